// "Load your own lesson": the file is parsed and checked by the server (POST /api/lessons/parse,
// a 422 names the line), kept in this tab's sessionStorage and played at /lessons/own/....
import { formatDetail } from "./api.js";
import { stopUrl } from "./lesson.js";

const $ = (id) => document.getElementById(id);

$("lesson-file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  $("lesson-file-error").textContent = "";
  $("lesson-file-status").textContent = "";
  if (!file) return;
  const r = await fetch("/api/lessons/parse", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text: await file.text() }),
  });
  const body = await r.json();
  if (!r.ok) {
    $("lesson-file-error").textContent = `${file.name}: ${formatDetail(body.detail)}`;
    return;
  }
  sessionStorage.setItem("lstmx.ownLesson", JSON.stringify(body));
  $("lesson-file-status").textContent = `“${body.title}”: ${body.stops.length} stops. Opening the first…`;
  location.assign(stopUrl(body, 1, true));
});
