// One table of properties -> the whole UI state in the URL (as in tensorflow/playground).
// Every page declares its table { key: [default, kind] } and gets parse/serialise from here:
// the key is the URL parameter; only values that differ from the defaults are written, so
// links stay short; unknown or invalid parameters are ignored.

export const int = (min, max) => ({ type: "int", min, max });
export const num = (min, max) => ({ type: "float", min, max });
export const oneOf = (...choices) => ({ type: "enum", choices });
export const bool = () => ({ type: "bool" });
export const text = (max) => ({ type: "string", max });

// One raw string for a kind; undefined when it is not a valid value.
export function parseKind(kind, raw) {
  if (raw === null || raw === undefined) return undefined;
  raw = String(raw);
  switch (kind.type) {
    case "int": {
      if (!/^-?\d+$/.test(raw)) return undefined;
      const v = Number(raw);
      return v >= kind.min && v <= kind.max ? v : undefined;
    }
    case "float": {
      const v = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(v)) return undefined;
      return v >= kind.min && v <= kind.max ? v : undefined;
    }
    case "enum":
      return kind.choices.includes(raw) ? raw : undefined;
    case "bool":
      return raw === "1" || raw === "true" ? true : raw === "0" || raw === "false" ? false : undefined;
    case "unit": // a unit index or "mean"
      return raw === "mean" || /^\d{1,3}$/.test(raw) ? raw : undefined;
    case "string":
      return raw.length <= kind.max ? raw : undefined;
    default:
      return undefined;
  }
}

export function urlState(properties) {
  const defaults = () => Object.fromEntries(Object.entries(properties).map(([k, [d]]) => [k, d]));
  const parseValue = (key, raw) => (properties[key] ? parseKind(properties[key][1], raw) : undefined);
  const parse = (query) => {
    const params = new URLSearchParams(query);
    const s = defaults();
    for (const key of Object.keys(properties)) {
      const v = parseValue(key, params.get(key));
      if (v !== undefined) s[key] = v;
    }
    return s;
  };
  const serialise = (state) => {
    const params = new URLSearchParams();
    for (const [key, [def, kind]] of Object.entries(properties)) {
      const v = state[key];
      if (v === undefined || v === def) continue;
      params.set(key, kind.type === "bool" ? (v ? "1" : "0") : String(v));
    }
    return params.toString();
  };
  return { defaults, parseValue, parse, serialise };
}
