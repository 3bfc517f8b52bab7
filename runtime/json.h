/* json.h: a small strict JSON reader for the safetensors header, internal to
 * the runtime (not installed).
 *
 * It parses RFC 8259 JSON into a flat array of values (a tree by indices).
 * It is strict where leniency could hide a damaged file: the input must be
 * valid UTF-8, objects may not repeat a key, strings may not hold NUL
 * (\u0000), nesting is bounded, and after the one top-level value only
 * whitespace may follow (safetensors pads its header with spaces).  Memory is
 * proportional to the input; nothing recurses deeper than JSON_MAX_DEPTH.
 */
#ifndef NETRT_JSON_H
#define NETRT_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 16

typedef enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

/* One value.  Children of an array or object are linked by index: `first`
 * is the first child, each child's `next` the following one (0 ends the
 * list: index 0 is always the root, never a child). */
typedef struct json_value {
    json_type type;
    size_t offset;   /* where the value starts in the input, for messages */
    const char *key; /* for an object's member: its key, decoded, NUL-terminated */
    const char *str; /* JSON_STRING: the decoded text, NUL-terminated */
    size_t count;    /* arrays and objects: the number of children */
    size_t first;    /* arrays and objects: the first child, 0 if none */
    size_t next;     /* the next sibling, 0 if none */
    int is_uint;     /* JSON_NUMBER: an integer without sign, fraction or exponent that fits */
    uint64_t uint;   /* ... and its value */
} json_value;

typedef struct json_doc {
    json_value *v; /* v[0] is the top-level value */
    size_t n;
    char *text; /* decoded strings and keys */
} json_doc;

/* Parses text[0, len).  Returns 0 and fills doc, or -1 with a message such as
 * "byte 12: expected ':' after an object key" in err (doc then empty).
 * Free doc with netrt_json_free either way. */
int netrt_json_parse(const char *text, size_t len, json_doc *doc, char *err, size_t errlen);

void netrt_json_free(json_doc *doc);

#endif
