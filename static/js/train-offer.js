// The trained model's hand-offs on the Train page: the JSON and .safetensors downloads, and
// the links that open it on the step-through page (through sessionStorage: weights never go in
// a URL) and in the gradient lab beside fresh networks.

import { formatDetail } from "./api.js";
import { rowsToUrl } from "./inputs.js";
import { RUN_STYLE } from "./train-charts.js";

const $ = (id) => document.getElementById(id);
// The step page opens a trained text model on this, live: typing feeds it one character a step.
// The step page's text box is one line: newlines become spaces.
const STEP_SNIPPET = 'def area(r): return 3.14 * (r ** 2)  # "pi r squared"';


// PyTorch-named weights as a .safetensors file: the server writes it (POST /api/weights/export).
export async function downloadSafetensors(offered, taskName) {
  if (!offered) return;
  const name = `${taskName}-${offered.cell}-H${offered.hidden_size}.safetensors`;
  try {
    const r = await fetch("/api/weights/export", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: offered, format: "safetensors" }),
    });
    if (!r.ok) throw new Error(formatDetail((await r.json()).detail));
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await r.blob());
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (err) {
    $("error").textContent = `Could not export the weights: ${err.message}`;
  }
}

// A piece of text in the model's alphabet for the step page (tabs and CRLF as the server reads them).
function stepSnippet(alphabet, uploadedText) {
  const source = uploadedText ? uploadedText.text.slice(0, 400) : STEP_SNIPPET;
  const clean = source.replaceAll("\r\n", " ").replaceAll("\n", " ").replaceAll("\t", "    ");
  return [...clean].filter((ch) => alphabet.includes(ch)).join("").slice(0, 160);
}

// The run's model offered: kept for the step page (sessionStorage), as a download, and as links
// that open it on the step-through page and the lab. Returns the model now offered.
export function offerModel(run, { taskName, uploadedText }) {
  // A text model carries its alphabet: the step page feeds it characters in that order.
  const json = JSON.stringify(run.alphabet ? { ...run.model, alphabet: run.alphabet } : run.model);
  try {
    sessionStorage.setItem("lstmx.trainedModel", json);
  } catch {
    // storage full or disabled: the download still works
  }
  const link = $("download");
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([json], { type: "application/json" }));
  link.download = `${taskName}-${run.cell}-H${run.model.hidden_size}.json`;
  link.hidden = false;
  $("download-st").hidden = false;
  // The step-through page takes the model from sessionStorage and the held-out sample
  // sequence from its URL (as its own "my numbers" input), so the link shows the trained net.
  const open = $("open-step");
  const m = run.model;
  const query = new URLSearchParams({
    cell: m.cell, hidden: String(m.hidden_size), layers: String(m.num_layers),
    variant: m.variant || "standard", trained: "1",
  });
  if (run.alphabet) {
    query.set("kind", "text");
    query.set("text", stepSnippet(run.alphabet, uploadedText));
    query.set("live", "1");
  } else if (run.sample && run.sample.length <= 400) {
    query.set("kind", "custom");
    query.set("seq", rowsToUrl(run.sample.map((row) => row.map((v) => +v.toPrecision(6)))));
  }
  open.href = `/?${query}`;
  open.hidden = false;
  open.removeAttribute("aria-disabled");
  // The lab: the trained network against fresh ones of the same size, on the same sample.
  const lab = $("open-lab"); // the lab takes numeric sequences only
  lab.hidden = !query.has("seq");
  if (query.has("seq")) {
    const labQuery = new URLSearchParams({ kind: "custom", seq: query.get("seq"),
                                           hidden: String(m.hidden_size), trained: "1" });
    lab.href = `/compare?${labQuery}`;
  }
  $("result-text").textContent = `${RUN_STYLE[run.cell].name}, H = ${run.model.hidden_size}, with its readout (${run.model.output_size} output${run.model.output_size > 1 ? "s" : ""}): weights under PyTorch names.`;
  return run.model;
}
