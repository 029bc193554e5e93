// The loss the step page asks for (URL state: `loss`, and `cls` or `mse` for its target), which
// losses fit the model shown, and one sentence saying what L is. The engine defines them
// (app/engine/cells/losses.py); pure functions, checked by node --test.

export const LOSSES = ["", "sum_last", "next_token", "cross_entropy", "mse"];
const LABELS = {
  "": "the task's loss",
  sum_last: "sum of the last hidden state",
  next_token: "next token (cross-entropy)",
  cross_entropy: "a class (cross-entropy)",
  mse: "a target value (squared error)",
};

// What the model offers: {readout: its output size or 0, lm: its readout scores the input's own
// tokens (a language model), final: it reads h_n once}.
export function lossInfo(model, vocab) {
  const O = model?.output_size ?? 0;
  const V = model?.embedding?.num_embeddings ?? vocab?.length ?? model?.alphabet?.length;
  return { readout: O, lm: O > 0 && O === V && model?.readout !== "final", final: model?.readout === "final" };
}

// The selector's options: [{value, label, why}] where why (a reason) disables one.
export function lossOptions(info) {
  const noHead = info.readout ? null : "the model has no readout";
  const why = {
    "": null,
    sum_last: null,
    next_token: noHead ?? (info.lm ? null : "the readout does not score the input's tokens"),
    cross_entropy: noHead ?? (info.readout < 2 ? "the readout has one output" : null),
    mse: noHead,
  };
  return LOSSES.map((value) => ({ value, label: LABELS[value], why: why[value] }));
}

// The loss the engine picks when none is asked for (app/engine/cells/losses.py default_kind).
export function defaultKind(info) {
  if (!info.readout) return "sum_last";
  if (info.lm) return "next_token";
  return info.readout >= 2 ? "cross_entropy" : "sum_last";
}

// The request's loss: {} for the task's, else {kind, target?}. cls < 0: the model's own answer.
export function lossBody(state, info) {
  const kind = state.loss;
  if (!kind || lossOptions(info).find((o) => o.value === kind)?.why) return {};
  if (kind === "cross_entropy") return state.cls >= 0 ? { kind, target: state.cls } : { kind };
  if (kind === "mse") return { kind, target: new Array(info.readout).fill(state.mse) };
  return { kind };
}

// What L is, for the backward pass's chart.
export function lossText(kind, info = {}, target = undefined) {
  const at = info.final ? "of h_n (read once, after the whole sequence)" : "at the last step";
  switch (kind) {
    case "next_token":
      return "L is the next-token cross-entropy: the mean over steps t of −log p(token t+1), the readout at step t predicting the next input.";
    case "cross_entropy":
      return target === undefined
        ? `L is the cross-entropy of the readout ${at} against the model's own answer (its most probable class).`
        : `L is the cross-entropy of the readout ${at} against class ${target}.`;
    case "mse":
      return `L is the mean squared error of the readout ${at} against the target value.`;
    default:
      return "L is the sum of the last hidden state (of the top layer).";
  }
}
