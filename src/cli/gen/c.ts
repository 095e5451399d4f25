// `workd gen --lang c`: one header-only file for clang with wasi-libc, to be
// included by exactly one .c file: the ABI imports and `workd_alloc`, a
// struct per message with `<msg>_decode`/`<msg>_encode`, and per rpc the
// method export that decodes the request, calls the author's
// `<pkg>_<Service>_<Method>(req, res)` and encodes the answer.
import { WIRE, isPackable, type GenField, type GenMessage, type GenModel, type Scalar, type ValueType } from './model.js';

const C_TYPE: Record<Scalar, string> = {
  double: 'double', float: 'float', int64: 'int64_t', uint64: 'uint64_t', int32: 'int32_t', fixed64: 'uint64_t',
  fixed32: 'uint32_t', bool: 'bool', string: 'workd_string', bytes: 'workd_bytes', uint32: 'uint32_t',
  sfixed32: 'int32_t', sfixed64: 'int64_t', sint32: 'int32_t', sint64: 'int64_t',
};

const KEYWORDS = new Set(
  ('auto break case char const continue default do double else enum extern float for goto if inline int long register restrict ' +
    'return short signed sizeof static struct switch typedef union unsigned void volatile while bool true false').split(' '),
);

function id(name: string): string {
  return KEYWORDS.has(name) ? `${name}_` : name;
}

const RUNTIME = String.raw`#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The node's functions (module "workd", docs/guest-abi.md). */
__attribute__((import_module("workd"), import_name("respond"))) void workd_respond(const void *ptr, int32_t len);
__attribute__((import_module("workd"), import_name("status_message"))) void workd_status_message(const void *ptr, int32_t len);
__attribute__((import_module("workd"), import_name("metadata_get"))) int32_t workd_metadata_get(const char *key, int32_t key_len, void *out, int32_t cap);
__attribute__((import_module("workd"), import_name("metadata_set"))) void workd_metadata_set(const char *key, int32_t key_len, const void *val, int32_t val_len);

/* gRPC status codes: a method returns one. */
typedef enum {
  WORKD_OK = 0, WORKD_CANCELLED = 1, WORKD_UNKNOWN = 2, WORKD_INVALID_ARGUMENT = 3, WORKD_DEADLINE_EXCEEDED = 4,
  WORKD_NOT_FOUND = 5, WORKD_ALREADY_EXISTS = 6, WORKD_PERMISSION_DENIED = 7, WORKD_RESOURCE_EXHAUSTED = 8,
  WORKD_FAILED_PRECONDITION = 9, WORKD_ABORTED = 10, WORKD_OUT_OF_RANGE = 11, WORKD_UNIMPLEMENTED = 12,
  WORKD_INTERNAL = 13, WORKD_UNAVAILABLE = 14, WORKD_DATA_LOSS = 15, WORKD_UNAUTHENTICATED = 16
} workd_status;

/* A string field: UTF-8, len bytes; a decoded one is also NUL-terminated. */
typedef struct { char *ptr; size_t len; } workd_string;
/* A bytes field. */
typedef struct { uint8_t *ptr; size_t len; } workd_bytes;

/* A string field's value from a C string (not copied). */
static inline workd_string workd_str(const char *s) { workd_string r = { (char *)s, strlen(s) }; return r; }

/* Sets the status message (printf format) and returns code: return workd_fail(WORKD_NOT_FOUND, "no item %s", sku); */
static inline workd_status workd_fail(workd_status code, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  workd_status_message(buf, n);
  return code;
}

/* The request metadata of key (lowercase), NUL-terminated; false when absent. Several values come joined by ", ". */
static inline bool workd_metadata(const char *key, workd_bytes *out) {
  int32_t kl = (int32_t)strlen(key);
  uint8_t small[256];
  int32_t n = workd_metadata_get(key, kl, small, sizeof small);
  if (n < 0) return false;
  out->ptr = malloc((size_t)n + 1);
  if (n > (int32_t)sizeof small) workd_metadata_get(key, kl, out->ptr, n);
  else memcpy(out->ptr, small, (size_t)n);
  out->ptr[n] = 0;
  out->len = (size_t)n;
  return true;
}

/* Adds a response trailer: printable ASCII, or any bytes under a key ending in -bin. */
static inline void workd_set_trailer(const char *key, const void *value, size_t len) {
  workd_metadata_set(key, (int32_t)strlen(key), value, (int32_t)len);
}

/* Appends a zeroed element to a repeated field (or map) and returns it: Item *it = WORKD_PUSH(res->items, res->items_count); */
#define WORKD_PUSH(items, count) ((__typeof__(*(items)) *)workd__push((void **)&(items), &(count), sizeof *(items)))

/* The node copies each request here. Every call runs on a pristine instance: nothing needs freeing. */
__attribute__((export_name("workd_alloc"))) void *workd_alloc(int32_t n) { return malloc(n > 0 ? (size_t)n : 1); }

static inline void *workd__push(void **items, size_t *count, size_t size) {
  size_t n = *count;
  if ((n & (n - 1)) == 0) {
    void *p = realloc(*items, (n ? 2 * n : 1) * size);
    if (!p) abort();
    *items = p;
  }
  void *e = (char *)*items + n * size;
  memset(e, 0, size);
  *count = n + 1;
  return e;
}

/* Wire format: a reader over a message's bytes and a growing writer. */
typedef struct { const uint8_t *p, *end; } workd__reader;
typedef struct { uint8_t *buf; size_t len, cap; } workd__writer;

static inline bool workd__varint(workd__reader *r, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) return false;
    uint8_t b = *r->p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) { *out = v; return true; }
  }
  return false;
}
static inline bool workd__sub(workd__reader *r, workd__reader *sub) {
  uint64_t n;
  if (!workd__varint(r, &n) || n > (uint64_t)(r->end - r->p)) return false;
  sub->p = r->p;
  sub->end = r->p + n;
  r->p += n;
  return true;
}
static inline bool workd__skip(workd__reader *r, uint32_t wire) {
  uint64_t v;
  workd__reader s;
  switch (wire) {
    case 0: return workd__varint(r, &v);
    case 1: if (r->end - r->p < 8) return false; r->p += 8; return true;
    case 2: return workd__sub(r, &s);
    case 5: if (r->end - r->p < 4) return false; r->p += 4; return true;
    default: return false;
  }
}
static inline bool workd__f32(workd__reader *r, uint32_t *v) {
  if (r->end - r->p < 4) return false;
  memcpy(v, r->p, 4);
  r->p += 4;
  return true;
}
static inline bool workd__f64(workd__reader *r, uint64_t *v) {
  if (r->end - r->p < 8) return false;
  memcpy(v, r->p, 8);
  r->p += 8;
  return true;
}
static inline bool workd__get_uint64(workd__reader *r, uint64_t *o) { return workd__varint(r, o); }
static inline bool workd__get_int64(workd__reader *r, int64_t *o) { uint64_t v; if (!workd__varint(r, &v)) return false; *o = (int64_t)v; return true; }
static inline bool workd__get_int32(workd__reader *r, int32_t *o) { uint64_t v; if (!workd__varint(r, &v)) return false; *o = (int32_t)v; return true; }
static inline bool workd__get_uint32(workd__reader *r, uint32_t *o) { uint64_t v; if (!workd__varint(r, &v)) return false; *o = (uint32_t)v; return true; }
static inline bool workd__get_bool(workd__reader *r, bool *o) { uint64_t v; if (!workd__varint(r, &v)) return false; *o = v != 0; return true; }
static inline bool workd__get_sint32(workd__reader *r, int32_t *o) { uint64_t v; if (!workd__varint(r, &v)) return false; *o = (int32_t)((uint32_t)(v >> 1) ^ (0u - (uint32_t)(v & 1))); return true; }
static inline bool workd__get_sint64(workd__reader *r, int64_t *o) { uint64_t v; if (!workd__varint(r, &v)) return false; *o = (int64_t)((v >> 1) ^ (0u - (v & 1))); return true; }
static inline bool workd__get_fixed32(workd__reader *r, uint32_t *o) { return workd__f32(r, o); }
static inline bool workd__get_sfixed32(workd__reader *r, int32_t *o) { uint32_t v; if (!workd__f32(r, &v)) return false; *o = (int32_t)v; return true; }
static inline bool workd__get_float(workd__reader *r, float *o) { uint32_t v; if (!workd__f32(r, &v)) return false; memcpy(o, &v, 4); return true; }
static inline bool workd__get_fixed64(workd__reader *r, uint64_t *o) { return workd__f64(r, o); }
static inline bool workd__get_sfixed64(workd__reader *r, int64_t *o) { uint64_t v; if (!workd__f64(r, &v)) return false; *o = (int64_t)v; return true; }
static inline bool workd__get_double(workd__reader *r, double *o) { uint64_t v; if (!workd__f64(r, &v)) return false; memcpy(o, &v, 8); return true; }
static inline bool workd__get_bytes(workd__reader *r, workd_bytes *o) {
  workd__reader s;
  if (!workd__sub(r, &s)) return false;
  o->len = (size_t)(s.end - s.p);
  o->ptr = malloc(o->len + 1);
  memcpy(o->ptr, s.p, o->len);
  o->ptr[o->len] = 0;
  return true;
}
static inline bool workd__get_string(workd__reader *r, workd_string *o) { return workd__get_bytes(r, (workd_bytes *)o); }

static inline void workd__reserve(workd__writer *w, size_t n) {
  if (w->len + n <= w->cap) return;
  size_t cap = w->cap ? w->cap * 2 : 64;
  while (cap < w->len + n) cap *= 2;
  w->buf = realloc(w->buf, cap);
  if (!w->buf) abort();
  w->cap = cap;
}
static inline void workd__put_uint64(workd__writer *w, uint64_t v) {
  workd__reserve(w, 10);
  while (v >= 0x80) { w->buf[w->len++] = (uint8_t)(v | 0x80); v >>= 7; }
  w->buf[w->len++] = (uint8_t)v;
}
static inline void workd__tag(workd__writer *w, uint32_t field, uint32_t wire) { workd__put_uint64(w, ((uint64_t)field << 3) | wire); }
static inline void workd__raw(workd__writer *w, const void *p, size_t n) { workd__reserve(w, n); if (n) memcpy(w->buf + w->len, p, n); w->len += n; }
static inline void workd__put_int64(workd__writer *w, int64_t v) { workd__put_uint64(w, (uint64_t)v); }
static inline void workd__put_int32(workd__writer *w, int32_t v) { workd__put_uint64(w, (uint64_t)(int64_t)v); }
static inline void workd__put_uint32(workd__writer *w, uint32_t v) { workd__put_uint64(w, v); }
static inline void workd__put_bool(workd__writer *w, bool v) { workd__put_uint64(w, v ? 1 : 0); }
static inline void workd__put_sint32(workd__writer *w, int32_t v) { workd__put_uint64(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31)); }
static inline void workd__put_sint64(workd__writer *w, int64_t v) { workd__put_uint64(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63)); }
static inline void workd__put_fixed32(workd__writer *w, uint32_t v) { workd__raw(w, &v, 4); }
static inline void workd__put_sfixed32(workd__writer *w, int32_t v) { workd__raw(w, &v, 4); }
static inline void workd__put_float(workd__writer *w, float v) { workd__raw(w, &v, 4); }
static inline void workd__put_fixed64(workd__writer *w, uint64_t v) { workd__raw(w, &v, 8); }
static inline void workd__put_sfixed64(workd__writer *w, int64_t v) { workd__raw(w, &v, 8); }
static inline void workd__put_double(workd__writer *w, double v) { workd__raw(w, &v, 8); }
static inline void workd__put_bytes(workd__writer *w, workd_bytes v) { workd__put_uint64(w, v.len); workd__raw(w, v.ptr, v.len); }
static inline void workd__put_string(workd__writer *w, workd_string v) { workd__put_uint64(w, v.len); workd__raw(w, v.ptr, v.len); }
/* A length-delimited value written in place: begin, write it, end (moves it past its length). */
static inline size_t workd__begin(workd__writer *w) { return w->len; }
static inline void workd__end(workd__writer *w, size_t start) {
  size_t n = w->len - start;
  uint8_t len[10];
  size_t k = 0;
  uint64_t v = n;
  while (v >= 0x80) { len[k++] = (uint8_t)(v | 0x80); v >>= 7; }
  len[k++] = (uint8_t)v;
  workd__reserve(w, k);
  memmove(w->buf + start + k, w->buf + start, n);
  memcpy(w->buf + start, len, k);
  w->len += k;
}
static inline bool workd__bits32(float v) { uint32_t b; memcpy(&b, &v, 4); return b != 0; }
static inline bool workd__bits64(double v) { uint64_t b; memcpy(&b, &v, 8); return b != 0; }
`;

export function emitC(model: GenModel): string {
  const prefix = model.pkg ? `${model.pkg.replace(/\./g, '_')}_` : '';
  const name = (local: string) => `${prefix}${local}`;
  const typeOf = (t: ValueType): string => (t.kind === 'message' ? name(t.message.local) : t.kind === 'enum' ? name(t.enum.local) : C_TYPE[t.scalar]);
  const entry = (m: GenMessage, f: GenField) => `${name(m.local)}_${f.name}_entry`;
  const nonDefault = (t: ValueType, v: string): string => {
    if (t.kind !== 'scalar') return `${v} != 0`;
    if (t.scalar === 'string' || t.scalar === 'bytes') return `${v}.len != 0`;
    if (t.scalar === 'float') return `workd__bits32(${v})`;
    if (t.scalar === 'double') return `workd__bits64(${v})`;
    return `${v}`;
  };
  // Reads one value of type t from reader r into the lvalue `into` (a message value is merged into `*into`).
  const get = (t: ValueType, r: string, into: string): string =>
    t.kind === 'message'
      ? `{ workd__reader s_; if (!workd__sub(${r}, &s_) || !${name(t.message.local)}_decode_(&s_, ${into})) return false; }`
      : `if (!workd__get_${t.scalar}(${r}, ${into})) return false;`;
  const put = (t: ValueType, w: string, v: string): string =>
    t.kind === 'message'
      ? `{ size_t s_ = workd__begin(${w}); ${name(t.message.local)}_encode_(${v}, ${w}); workd__end(${w}, s_); }`
      : t.kind === 'enum'
        ? `workd__put_int32(${w}, (int32_t)(${v}));`
        : `workd__put_${t.scalar}(${w}, ${v});`;
  const wire = (t: ValueType) => (t.kind === 'message' ? 2 : WIRE[t.scalar]);

  const out: string[] = [];
  const guard = `WORKD_GEN_${(model.sources[0] ?? 'proto').replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
  out.push(`// @generated by \`workd gen --lang c\` from ${model.sources.join(', ')}. Do not edit.
// Include it in exactly one .c file, define the functions declared under "Implement", and build a reactor:
//   clang --target=wasm32-wasi -mexec-model=reactor -O2 -o service.wasm service.c
// Decoded strings, bytes, repeated fields and nested messages are malloc'd and never freed: each call runs on a
// pristine instance. Repeated fields and maps are (pointer, <name>_count) pairs; append with WORKD_PUSH.
#ifndef ${guard}
#define ${guard}
${RUNTIME}`);
  for (const e of model.enums) {
    out.push(`/* enum ${e.typeName} (open: any int32 may arrive) */\ntypedef int32_t ${name(e.local)};`);
    out.push(e.values.map((v) => `#define ${name(e.local)}_${v.name} ((${name(e.local)})${v.number})`).join('\n'));
  }
  out.push(model.messages.map((m) => `typedef struct ${name(m.local)} ${name(m.local)};`).join('\n'));
  for (const m of model.messages) {
    for (const f of m.fields) {
      if (f.label !== 'map') continue;
      const v = f.type.kind === 'message' ? `${typeOf(f.type)} *value` : `${typeOf(f.type)} value`;
      out.push(`/* an entry of ${m.typeName}.${f.name} */\ntypedef struct { ${C_TYPE[f.key!.scalar]} key; ${v}; } ${entry(m, f)};`);
    }
  }
  for (const m of model.messages) {
    const members = m.fields.map((f) => {
      const n = id(f.name);
      const t = typeOf(f.type);
      switch (f.label) {
        case 'single': return `  ${t} ${n};`;
        case 'optional': return f.type.kind === 'message' ? `  ${t} *${n}; /* NULL when absent */` : `  bool has_${f.name};\n  ${t} ${n};`;
        case 'repeated': return `  ${t} *${n};\n  size_t ${f.name}_count;`;
        case 'map': return `  ${entry(m, f)} *${n}; /* one entry per key */\n  size_t ${f.name}_count;`;
      }
    });
    out.push(`/* message ${m.typeName} */\nstruct ${name(m.local)} {\n${members.length ? members.join('\n') : '  char unused_;'}\n};`);
  }
  out.push(model.messages.map((m) => `static inline bool ${name(m.local)}_decode_(workd__reader *r, ${name(m.local)} *m);\nstatic void ${name(m.local)}_encode_(const ${name(m.local)} *m, workd__writer *w);`).join('\n'));
  for (const m of model.messages) {
    const mn = name(m.local);
    const cases: string[] = [];
    const writes: string[] = [];
    for (const f of m.fields) {
      const n = id(f.name);
      const w = wire(f.type);
      const tag = `workd__tag(w, ${f.number}, ${w});`;
      switch (f.label) {
        case 'single':
          cases.push(`      case ${f.number}: if (wt == ${w}) { ${get(f.type, 'r', `&m->${n}`)} continue; } break;`);
          writes.push(`  if (${nonDefault(f.type, `m->${n}`)}) { ${tag} ${put(f.type, 'w', `m->${n}`)} }`);
          break;
        case 'optional':
          if (f.type.kind === 'message') {
            cases.push(`      case ${f.number}: if (wt == 2) { if (!m->${n}) m->${n} = calloc(1, sizeof *m->${n}); ${get(f.type, 'r', `m->${n}`)} continue; } break;`);
            writes.push(`  if (m->${n}) { ${tag} ${put(f.type, 'w', `m->${n}`)} }`);
          } else {
            cases.push(`      case ${f.number}: if (wt == ${w}) { ${get(f.type, 'r', `&m->${n}`)} m->has_${f.name} = true; continue; } break;`);
            writes.push(`  if (m->has_${f.name}) { ${tag} ${put(f.type, 'w', `m->${n}`)} }`);
          }
          break;
        case 'repeated': {
          const one = `{ ${typeOf(f.type)} *e_ = WORKD_PUSH(m->${n}, m->${f.name}_count); ${get(f.type, 'r', 'e_')} continue; }`;
          if (isPackable(f.type)) {
            cases.push(`      case ${f.number}: if (wt == ${w}) ${one}\n        if (wt == 2) { workd__reader p_; if (!workd__sub(r, &p_)) return false; while (p_.p < p_.end) { ${typeOf(f.type)} *e_ = WORKD_PUSH(m->${n}, m->${f.name}_count); ${get(f.type, '&p_', 'e_')} } continue; }\n        break;`);
          } else {
            cases.push(`      case ${f.number}: if (wt == ${w}) ${one} break;`);
          }
          const el = f.type.kind === 'message' ? `&m->${n}[i_]` : `m->${n}[i_]`;
          writes.push(
            f.packed
              ? `  if (m->${f.name}_count) { workd__tag(w, ${f.number}, 2); size_t s_ = workd__begin(w); for (size_t i_ = 0; i_ < m->${f.name}_count; i_++) ${put(f.type, 'w', el)} workd__end(w, s_); }`
              : `  for (size_t i_ = 0; i_ < m->${f.name}_count; i_++) { ${tag} ${put(f.type, 'w', el)} }`,
          );
          break;
        }
        case 'map': {
          const key = f.key!;
          const et = entry(m, f);
          const same = key.scalar === 'string' ? `m->${n}[i_].key.len == e.key.len && memcmp(m->${n}[i_].key.ptr, e.key.ptr, e.key.len) == 0` : `m->${n}[i_].key == e.key`;
          const valueGet = f.type.kind === 'message' ? get(f.type, '&s', 'e.value') : get(f.type, '&s', '&e.value');
          const alloc = f.type.kind === 'message' ? ` e.value = calloc(1, sizeof *e.value);` : '';
          cases.push(`      case ${f.number}: if (wt == 2) {
        workd__reader s; ${et} e; size_t i_;
        if (!workd__sub(r, &s)) return false;
        memset(&e, 0, sizeof e);${alloc}
        while (s.p < s.end) {
          uint64_t t; if (!workd__varint(&s, &t)) return false;
          if (t == ${(1 << 3) | WIRE[key.scalar]}) { ${get(key, '&s', '&e.key')} }
          else if (t == ${(2 << 3) | w}) { ${valueGet} }
          else if ((t >> 3) == 0 || !workd__skip(&s, (uint32_t)(t & 7))) return false;
        }
        for (i_ = 0; i_ < m->${f.name}_count; i_++) if (${same}) break;
        if (i_ == m->${f.name}_count) *WORKD_PUSH(m->${n}, m->${f.name}_count) = e; else m->${n}[i_] = e;
        continue;
      } break;`);
          writes.push(`  for (size_t i_ = 0; i_ < m->${f.name}_count; i_++) {
    size_t s_;
    workd__tag(w, ${f.number}, 2); s_ = workd__begin(w);
    workd__tag(w, 1, ${WIRE[key.scalar]}); ${put(key, 'w', `m->${n}[i_].key`)}
    workd__tag(w, 2, ${w}); ${put(f.type, 'w', `m->${n}[i_].value`)}
    workd__end(w, s_);
  }`);
          break;
        }
      }
    }
    out.push(`/* Decodes a ${m.typeName} from len bytes at buf into *m; false when the bytes are not one. */
static inline bool ${mn}_decode(const uint8_t *buf, size_t len, ${mn} *m) {
  workd__reader r = { buf, buf + len };
  memset(m, 0, sizeof *m);
  return ${mn}_decode_(&r, m);
}
static inline bool ${mn}_decode_(workd__reader *r, ${mn} *m) {
  (void)m;
  while (r->p < r->end) {
    uint64_t tag;
    uint32_t wt;
    if (!workd__varint(r, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
    wt = (uint32_t)(tag & 7);
    switch ((uint32_t)(tag >> 3)) {
${cases.join('\n')}
      default: break;
    }
    if (!workd__skip(r, wt)) return false;
  }
  return true;
}
/* Encodes *m; the bytes are malloc'd. */
static inline workd_bytes ${mn}_encode(const ${mn} *m) {
  workd__writer w = { 0, 0, 0 };
  workd_bytes b;
  ${mn}_encode_(m, &w);
  b.ptr = w.buf;
  b.len = w.len;
  return b;
}
static inline void ${mn}_encode_(const ${mn} *m, workd__writer *w) {
  (void)m; (void)w;
${writes.join('\n')}
}`);
  }
  for (const s of model.services) {
    const impl = s.methods.map((m) => `/* rpc ${s.typeName}/${m.name}: fill *res and return WORKD_OK, or return workd_fail(WORKD_..., "why"). */
workd_status ${name(s.name)}_${m.name}(const ${name(m.input.local)} *req, ${name(m.output.local)} *res);`);
    const exports = s.methods.map((m) => `__attribute__((export_name("${m.name}"))) int32_t workd__export_${name(s.name)}_${m.name}(const uint8_t *ptr, int32_t len) {
  ${name(m.input.local)} req;
  ${name(m.output.local)} res;
  workd_status st;
  workd_bytes out;
  if (!${name(m.input.local)}_decode(ptr, len > 0 ? (size_t)len : 0, &req)) return workd_fail(WORKD_INVALID_ARGUMENT, "malformed ${m.input.typeName}");
  memset(&res, 0, sizeof res);
  st = ${name(s.name)}_${m.name}(&req, &res);
  if (st != WORKD_OK) return st;
  out = ${name(m.output.local)}_encode(&res);
  workd_respond(out.ptr, (int32_t)out.len);
  return WORKD_OK;
}`);
    out.push(`/* ---- Implement: service ${s.typeName} ---- */\n${impl.join('\n')}\n\n${exports.join('\n\n')}`);
  }
  out.push(`#endif /* ${guard} */\n`);
  return out.join('\n\n');
}
