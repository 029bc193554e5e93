// Models that travel with a class by key (a model that is not in the URL: uploaded, trained):
// the teacher's page stores each once (POST /api/models) and its states name it (model_key);
// any page fetches one by its key (GET /api/models/{key}).

import { formatDetail } from "./api.js";

// note(text): a line on the teacher's panel; stored(): the key has arrived (send the state).
export function modelSharer(note, stored) {
  const keys = new WeakMap(); // model object -> {key} | {pending} | {error}
  return {
    // The model's key, or null while it is being stored (or could not be).
    keyFor(model, body) {
      const known = keys.get(model);
      if (known) return known.key || null;
      keys.set(model, { pending: true });
      note("Sharing the model with the class…");
      fetch("/api/models", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      })
        .then(async (r) => {
          const answer = await r.json().catch(() => ({}));
          if (!r.ok || !answer.key) throw new Error(answer.detail ? formatDetail(answer.detail) : `${r.status} ${r.statusText}`);
          keys.set(model, { key: answer.key });
          note("");
          stored();
        })
        .catch((err) => {
          keys.set(model, { error: err.message });
          note(`The model could not be shared (${err.message}): the class still shows the last view it had.`);
        });
      return null;
    },
    // A model fetched by its key is already stored under it.
    known(model, key) {
      keys.set(model, { key });
    },
  };
}

// The model stored under `key`; rejects with the server's words ("expired: ...").
export async function fetchModel(key) {
  const r = await fetch(`/api/models/${encodeURIComponent(key)}`);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail ? plainDetail(body.detail) : `${r.status} ${r.statusText}`);
  return body.model ?? body;
}

// An error answer's message without its location ("expired: ..." rather than "path.key: ...").
export function plainDetail(detail) {
  return Array.isArray(detail) ? detail.map((d) => d.msg ?? formatDetail([d])).join("; ") : formatDetail(detail);
}
