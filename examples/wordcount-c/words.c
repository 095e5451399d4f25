// example.com:text.Words@1.0.0 in C (wasi-libc), on the code `workd gen` makes from words.proto:
//   workd gen --lang c --proto words.proto -o words.gen.h
//   clang --target=wasm32-wasi -mexec-model=reactor -O2 -o words.wasm words.c
#include "words.gen.h"

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

static int by_count(const void *a, const void *b) {
  const text_WordCount *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  size_t n = x->word.len < y->word.len ? x->word.len : y->word.len;
  int c = memcmp(x->word.ptr, y->word.ptr, n);
  return c ? c : (int)x->word.len - (int)y->word.len;
}

workd_status text_Words_Count(const text_CountRequest *req, text_CountReply *res) {
  const char *t = req->text.ptr;
  size_t len = req->text.len;
  if (len == 0) return workd_fail(WORKD_INVALID_ARGUMENT, "text is empty: nothing to count");
  if (req->top > 100) return workd_fail(WORKD_INVALID_ARGUMENT, "top is %u: at most 100", (unsigned)req->top);

  // Every distinct word with its count; each call runs on a pristine instance, so nothing is freed.
  text_WordCount *seen = NULL;
  size_t seen_count = 0;
  for (size_t i = 0; i < len;) {
    while (i < len && is_space(t[i])) i++;
    size_t start = i;
    while (i < len && !is_space(t[i])) i++;
    if (i == start) break;
    workd_string w = { (char *)t + start, i - start };
    res->words++;
    if (w.len > res->longest.len) res->longest = w;
    size_t k = 0;
    while (k < seen_count && !(seen[k].word.len == w.len && memcmp(seen[k].word.ptr, w.ptr, w.len) == 0)) k++;
    if (k == seen_count) WORKD_PUSH(seen, seen_count)->word = w;
    seen[k].count++;
  }
  for (size_t i = 0; i < len; i++) res->lines += t[i] == '\n';
  if (t[len - 1] != '\n') res->lines++;

  qsort(seen, seen_count, sizeof *seen, by_count);
  for (size_t k = 0; k < seen_count && k < req->top; k++) *WORKD_PUSH(res->top, res->top_count) = seen[k];

  workd_bytes id;
  if (workd_metadata("x-request-id", &id)) workd_set_trailer("x-request-id", id.ptr, id.len);
  const char *who = getenv("WORDS_NAME");
  printf("%s counted %u words in %u lines\n", who ? who : "words", (unsigned)res->words, (unsigned)res->lines);
  return WORKD_OK;
}
