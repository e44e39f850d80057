// Prints what the @huggingface/gguf parser (an independent GGUF reader, npm) sees in a GGUF
// file, in the text form of tests/gguf_dump.c, for tests/test_gguf_npm.sh to compare.
// usage: node gguf_npm.mjs MODULE_DIR FILE  (MODULE_DIR holds node_modules/@huggingface/gguf)
import { createRequire } from "node:module";
import path from "node:path";

const [moduleDir, file] = process.argv.slice(2);
const require = createRequire(path.join(moduleDir, "package.json"));
const { gguf, GGUFValueType } = require("@huggingface/gguf");
const r = await gguf(file, { allowLocalFile: true, typedMetadata: true });
const m = r.typedMetadata;

function fnv(h, bytes) {
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}
const enc = new TextEncoder();
const f32hex = (x) => {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x, true);
  return dv.getUint32(0, true).toString(16).padStart(8, "0");
};
const f64hex = (x) => {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x, true);
  return dv.getBigUint64(0, true).toString(16).padStart(16, "0");
};
function scalar(type, v) {
  switch (type) {
    case GGUFValueType.FLOAT32: return "f32:" + f32hex(v);
    case GGUFValueType.FLOAT64: return "f64:" + f64hex(v);
    case GGUFValueType.BOOL: return v ? "true" : "false";
    case GGUFValueType.STRING: return "str:" + v;
    default: return String(v);
  }
}

const out = [];
out.push(`version ${m.version.value}`);
out.push(`tensor_count ${m.tensor_count.value}`);
out.push(`kv_count ${m.kv_count.value}`);
out.push(`data_offset ${r.tensorDataOffset}`);
for (const [key, tv] of Object.entries(m)) {
  if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
  if (tv.type === GGUFValueType.ARRAY) {
    let h = 2166136261;
    for (const e of tv.value) {
      const text = tv.subType === GGUFValueType.STRING ? e : scalar(tv.subType, e);
      h = fnv(h, enc.encode(text));
      h = fnv(h, [0]);
    }
    out.push(`kv ${key} array n=${tv.value.length} hash=${h.toString(16).padStart(8, "0")}`);
  } else {
    out.push(`kv ${key} ${scalar(tv.type, tv.value)}`);
  }
}
for (const t of r.tensorInfos) {
  out.push(`tensor ${t.name} dims=${t.shape.map(String).join(",")} type=${t.dtype} offset=${t.offset}`);
}
process.stdout.write(out.join("\n") + "\n");
