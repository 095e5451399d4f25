// example.com:text.Words@1.0.0 in C (wasi-libc), against guest ABI v1
// (docs/guest-abi.md). Build as a reactor:
//   clang --target=wasm32-wasi -mexec-model=reactor -O2 -o words.wasm words.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("workd"), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

IMPORT("respond") void workd_respond(const void *ptr, int32_t len);
IMPORT("status_message") void workd_status_message(const void *ptr, int32_t len);
IMPORT("metadata_get") int32_t workd_metadata_get(const char *key, int32_t key_len, void *out, int32_t cap);
IMPORT("metadata_set") void workd_metadata_set(const char *key, int32_t key_len, const void *val, int32_t val_len);

enum { OK = 0, INVALID_ARGUMENT = 3 };

// Each call runs on a pristine instance, so malloc without free is fine.
EXPORT("workd_alloc") void *workd_alloc(int32_t n) { return malloc(n > 0 ? (size_t)n : 1); }

static int fail(int code, const char *msg) {
  workd_status_message(msg, (int32_t)strlen(msg));
  return code;
}

// Reads a varint at *p (< end); returns 0 on truncation.
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return 0;
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 1;
    }
  }
  return 0;
}

static uint8_t *put_varint(uint8_t *o, uint64_t v) {
  while (v >= 0x80) {
    *o++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *o++ = (uint8_t)v;
  return o;
}

EXPORT("Count") int32_t Count(const uint8_t *req, int32_t len) {
  const uint8_t *p = req, *end = req + len;
  const uint8_t *text = NULL;
  uint64_t text_len = 0;
  while (p < end) {
    uint64_t tag, n;
    if (!varint(&p, end, &tag)) return fail(INVALID_ARGUMENT, "malformed CountRequest");
    switch (tag & 7) {
      case 0: if (!varint(&p, end, &n)) return fail(INVALID_ARGUMENT, "malformed CountRequest"); break;
      case 1: p += 8; break;
      case 5: p += 4; break;
      case 2:
        if (!varint(&p, end, &n) || n > (uint64_t)(end - p)) return fail(INVALID_ARGUMENT, "malformed CountRequest");
        if (tag >> 3 == 1) { text = p; text_len = n; }
        p += n;
        break;
      default: return fail(INVALID_ARGUMENT, "malformed CountRequest");
    }
    if (p > end) return fail(INVALID_ARGUMENT, "malformed CountRequest");
  }

  uint32_t words = 0, lines = 0;
  const uint8_t *best = NULL, *word = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i <= text_len; i++) {
    int space = i == text_len || text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r';
    if (i < text_len && text[i] == '\n') lines++;
    if (!space && !word) word = text + i;
    if (space && word) {
      size_t n = (size_t)(text + i - word);
      words++;
      if (n > best_len) { best = word; best_len = n; }
      word = NULL;
    }
  }
  if (text_len > 0 && text[text_len - 1] != '\n') lines++;

  uint8_t *out = malloc(32 + best_len), *o = out;
  if (words) { *o++ = 0x08; o = put_varint(o, words); }
  if (lines) { *o++ = 0x10; o = put_varint(o, lines); }
  if (best_len) { *o++ = 0x1a; o = put_varint(o, best_len); memcpy(o, best, best_len); o += best_len; }
  workd_respond(out, (int32_t)(o - out));

  char id[64];
  int32_t id_len = workd_metadata_get("x-request-id", 12, id, sizeof id - 1);
  if (id_len >= 0 && id_len < (int32_t)sizeof id) {
    id[id_len] = 0;
    workd_metadata_set("x-request-id", 12, id, id_len);
  }
  const char *who = getenv("WORDS_NAME");
  printf("%s counted %u words in %u lines\n", who ? who : "words", (unsigned)words, (unsigned)lines);
  return OK;
}
