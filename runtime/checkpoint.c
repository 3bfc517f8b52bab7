/* checkpoint.c: saving and loading checkpoints as safetensors files.
 *
 * The format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON, then the tensor data.  The
 * JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin,
 * end]}, offsets relative to the data's start, plus an optional
 * "__metadata__" object of string values.  We write parameters under their
 * PyTorch state_dict names, optimizer state under "optim." names, and keep
 * the step count, epoch, shuffling seed and a CRC-32 of the data in the
 * metadata (strings, as the format requires).  The step count lives there
 * rather than in a tensor so that a plain-SGD checkpoint is exactly a
 * state_dict, which torch's load_state_dict takes in strict mode.
 *
 * Loading trusts nothing: every size is checked against the file's size
 * before anything is allocated from it, the tensors must cover the data
 * exactly (no gaps, no overlaps, no trailing bytes: the format's own rule,
 * which also makes a truncated file fail), and the whole file is decoded
 * into scratch buffers which are copied to the caller's only when all is
 * well.  Saving writes a temporary file beside the target and renames it,
 * so a crash at any point leaves the old file or the new one, never a mix;
 * it refuses a target that is not a regular file (a FIFO, a device), which
 * the rename would replace.
 */
#define _POSIX_C_SOURCE 200809L
#include "checkpoint.h"

#include "data.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void msgf(char *msg, size_t len, const char *fmt, ...) {
    va_list ap;
    if (!len)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

/* CRC-32 (IEEE, as zlib), bitwise: checkpoints are small. */
static uint32_t crc32(const unsigned char *b, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= b[i];
        for (k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* Elements of a tensor: rows x cols, or rows for a vector (cols 0). */
static size_t numel(const netrt_tensor *t) { return t->cols ? t->rows * t->cols : t->rows; }

/* The i-th tensor of the file's expected set: parameters, then state. */
static const netrt_tensor *entry(const netrt_model *m, size_t i, int *is_state) {
    *is_state = i >= m->n_tensors;
    return *is_state ? &m->state[i - m->n_tensors] : &m->tensors[i];
}

static int check_set(const netrt_tensor *t, size_t n, size_t first, size_t bytes, const char *what, char *msg,
                     size_t msglen) {
    size_t i;
    for (i = 0; i < n; i++) {
        size_t k;
        if (!t[i].name || !*t[i].name || !t[i].rows || t[i].rows > SIZE_MAX / 8 ||
            (t[i].cols && t[i].rows > SIZE_MAX / 8 / t[i].cols)) {
            msgf(msg, msglen, "the model descriptor's %s tensor %zu is invalid", what, i);
            return -1;
        }
        k = numel(&t[i]);
        if (t[i].offset < first || t[i].offset > bytes / sizeof(float) ||
            k > bytes / sizeof(float) - t[i].offset) {
            msgf(msg, msglen, "the model descriptor's tensor '%s' lies outside its struct", t[i].name);
            return -1;
        }
    }
    return 0;
}

int netrt_ckpt_check_model(const netrt_model *m, char *msg, size_t msglen) {
    if (!m->tensors || !m->n_tensors || (m->n_state && !m->state) || m->n_tensors > 100000 ||
        m->n_state > 100000) {
        msgf(msg, msglen, "the model descriptor has no valid tensor list");
        return -1;
    }
    if (check_set(m->tensors, m->n_tensors, 0, m->params_size, "parameter", msg, msglen))
        return -1;
    /* State tensors follow the uint64_t step count. */
    return check_set(m->state, m->n_state, sizeof(uint64_t) / sizeof(float), m->optim_size, "optimizer state",
                     msg, msglen);
}

/* ---- loading ---- */

/* s shown in a message: at most 60 bytes, unprintable bytes escaped. */
static const char *shown(const char *s, char *buf, size_t cap) {
    return netrt_escape(s, strlen(s), 60, buf, cap);
}

/* A JSON shape as text: [3, 5]; at most 8 dimensions shown. */
static const char *shape_text(const json_doc *d, const json_value *shape, char *buf, size_t cap) {
    size_t c, n = 0, k = 0;
    n += (size_t)snprintf(buf, cap, "[");
    for (c = shape->first; c && n < cap; c = d->v[c].next, k++) {
        if (k == 8) {
            n += (size_t)snprintf(buf + n, cap - n, ", ...");
            break;
        }
        if (d->v[c].is_uint)
            n +=
                (size_t)snprintf(buf + n, cap - n, "%s%llu", k ? ", " : "", (unsigned long long)d->v[c].uint);
        else
            n += (size_t)snprintf(buf + n, cap - n, "%s?", k ? ", " : "");
    }
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

static const char *model_shape(const netrt_tensor *t, char *buf, size_t cap) {
    if (t->cols)
        snprintf(buf, cap, "[%zu, %zu]", t->rows, t->cols);
    else
        snprintf(buf, cap, "[%zu]", t->rows);
    return buf;
}

/* Per expected tensor: where the file puts it. */
typedef struct slot {
    int found;
    uint64_t begin, end;
    size_t index; /* into the expected set */
} slot;

static int slot_cmp(const void *a, const void *b) {
    const slot *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* A decimal uint64 in a metadata string: digits only, no leading zero, no
 * overflow. */
static int meta_uint(const char *s, uint64_t *v) {
    if (s[0] == '0' && s[1])
        return -1;
    return netrt_parse_uint(s, 0, UINT64_MAX, v);
}

/* The metadata object: string values; netc's keys must be well formed, any
 * other key (such as safetensors' "format") is kept by nobody and ignored. */
/* Who saved a file: netc.model and netc.source_hash, when it says. */
typedef struct saver {
    const char *name; /* NULL: not said */
    int has_hash;
    uint64_t hash;
} saver;

static int read_meta(const json_doc *d, const json_value *md, int *has_steps, uint64_t *steps,
                     netrt_meta *meta, int *has_crc, uint32_t *crc, saver *by, char *msg, size_t msglen) {
    size_t c;
    char b[200];
    if (md->type != JSON_OBJECT) {
        msgf(msg, msglen, "__metadata__ is not an object");
        return -1;
    }
    for (c = md->first; c; c = d->v[c].next) {
        const json_value *v = &d->v[c];
        uint64_t u = 0;
        if (v->type != JSON_STRING) {
            msgf(msg, msglen, "__metadata__ '%s' is not a string", shown(v->key, b, sizeof b));
            return -1;
        }
        if (strcmp(v->key, "netc.crc32") == 0) {
            if (strlen(v->str) != 8 || strspn(v->str, "0123456789abcdef") != 8) {
                msgf(msg, msglen, "__metadata__ 'netc.crc32' is not 8 lowercase hex digits");
                return -1;
            }
            *has_crc = 1;
            *crc = (uint32_t)strtoul(v->str, NULL, 16);
            continue;
        }
        if (strcmp(v->key, "netc.source_hash") == 0) {
            if (strlen(v->str) != 16 || strspn(v->str, "0123456789abcdef") != 16) {
                msgf(msg, msglen, "__metadata__ 'netc.source_hash' is not 16 lowercase hex digits");
                return -1;
            }
            by->has_hash = 1;
            by->hash = (uint64_t)strtoull(v->str, NULL, 16);
            continue;
        }
        if (strcmp(v->key, "netc.model") == 0) {
            by->name = v->str;
            continue;
        }
        if (strncmp(v->key, "netc.", 5) != 0 || strcmp(v->key, "netc.version") == 0)
            continue;
        if (strcmp(v->key, "netc.steps") && strcmp(v->key, "netc.epoch") && strcmp(v->key, "netc.seed"))
            continue;
        if (meta_uint(v->str, &u)) {
            msgf(msg, msglen, "__metadata__ '%s': expected a whole number, got '%s'", v->key,
                 shown(v->str, b, sizeof b));
            return -1;
        }
        if (strcmp(v->key, "netc.steps") == 0) {
            *has_steps = 1;
            *steps = u;
        } else if (strcmp(v->key, "netc.epoch") == 0) {
            meta->epoch = u;
        } else {
            meta->seed = u;
            meta->has_seed = 1;
        }
    }
    return 0;
}

/* One tensor's entry: exactly dtype F32, the model's shape, and offsets
 * that fit the data. */
static int read_entry(const json_doc *d, const json_value *v, const netrt_tensor *t, size_t data_len, slot *s,
                      char *msg, size_t msglen) {
    const json_value *dtype = NULL, *shape = NULL, *offs = NULL;
    char b[200], b2[200], b3[64];
    size_t c, k, want = numel(t);
    const char *name = t->name;
    if (v->type != JSON_OBJECT) {
        msgf(msg, msglen, "tensor '%s': expected an object", name);
        return -1;
    }
    for (c = v->first; c; c = d->v[c].next) {
        const json_value *f = &d->v[c];
        if (strcmp(f->key, "dtype") == 0)
            dtype = f;
        else if (strcmp(f->key, "shape") == 0)
            shape = f;
        else if (strcmp(f->key, "data_offsets") == 0)
            offs = f;
        else {
            msgf(msg, msglen, "tensor '%s': unknown key '%s'", name, shown(f->key, b, sizeof b));
            return -1;
        }
    }
    if (!dtype || !shape || !offs) {
        msgf(msg, msglen, "tensor '%s': missing '%s'", name,
             !dtype       ? "dtype"
                 : !shape ? "shape"
                          : "data_offsets");
        return -1;
    }
    if (dtype->type != JSON_STRING || strcmp(dtype->str, "F32") != 0) {
        msgf(msg, msglen, "tensor '%s': dtype %s, expected F32", name,
             dtype->type == JSON_STRING ? shown(dtype->str, b, sizeof b) : "(not a string)");
        return -1;
    }
    if (shape->type != JSON_ARRAY) {
        msgf(msg, msglen, "tensor '%s': shape is not a list", name);
        return -1;
    }
    {
        size_t dims[2] = {t->rows, t->cols}, nd = t->cols ? 2 : 1;
        int same = shape->count == nd;
        for (c = shape->first, k = 0; c && same; c = d->v[c].next, k++)
            same = d->v[c].is_uint && d->v[c].uint == dims[k];
        if (!same) {
            msgf(msg, msglen, "tensor '%s' has shape %s in the file, the model has %s", name,
                 shape_text(d, shape, b, sizeof b), model_shape(t, b3, sizeof b3));
            return -1;
        }
    }
    if (offs->type != JSON_ARRAY || offs->count != 2 || !d->v[offs->first].is_uint ||
        !d->v[d->v[offs->first].next].is_uint) {
        msgf(msg, msglen, "tensor '%s': data_offsets is not a list of two whole numbers", name);
        return -1;
    }
    s->begin = d->v[offs->first].uint;
    s->end = d->v[d->v[offs->first].next].uint;
    if (s->begin > s->end) {
        msgf(msg, msglen, "tensor '%s': data_offsets [%llu, %llu] end before they begin", name,
             (unsigned long long)s->begin, (unsigned long long)s->end);
        return -1;
    }
    if (s->end > data_len) {
        msgf(msg, msglen,
             "tensor '%s' ends at data byte %llu, past the end of the file's "
             "%zu data bytes (is the file truncated?)",
             name, (unsigned long long)s->end, data_len);
        return -1;
    }
    if (s->end - s->begin != (uint64_t)want * sizeof(float)) {
        msgf(msg, msglen, "tensor '%s': data_offsets span %llu bytes, its shape %s needs %zu", name,
             (unsigned long long)(s->end - s->begin), model_shape(t, b2, sizeof b2), want * sizeof(float));
        return -1;
    }
    s->found = 1;
    return 0;
}

/* Little-endian float32 bytes to floats, rejecting NaN and infinity. */
static int decode_floats(const unsigned char *src, size_t n, float *dst, const char *name, char *msg,
                         size_t msglen) {
    size_t i;
    for (i = 0; i < n; i++) {
        const unsigned char *b = src + 4 * i;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        float f;
        memcpy(&f, &u, sizeof f);
        if (!isfinite(f)) {
            msgf(msg, msglen, "tensor '%s' element %zu is NaN or infinite", name, i);
            return -1;
        }
        memcpy(dst + i, &f, sizeof f);
    }
    return 0;
}

/* A model as a message names it: 'NAME' (source fnv1a-64 HASH). */
static const char *model_text(const char *name, int has_hash, uint64_t hash, char *buf, size_t cap) {
    char b[200];
    int n = snprintf(buf, cap, "'%s'", shown(name, b, sizeof b));
    if (has_hash && n >= 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " (source fnv1a-64 %016llx)", (unsigned long long)hash);
    return buf;
}

/* The file is of model m: its saver's name and source hash, where both
 * sides know them, are m's.  Checked after everything else, so a file
 * whose tensors differ says so first; this catches the one whose tensors
 * happen to match. */
static int check_saver(const netrt_model *m, const saver *by, char *msg, size_t msglen) {
    char b1[300], b2[300];
    int name_differs = by->name && strcmp(by->name, m->name) != 0;
    int hash_differs = by->has_hash && m->hash && by->hash != m->hash;
    if (!name_differs && !hash_differs)
        return 0;
    if (!name_differs) {
        msgf(msg, msglen,
             "a checkpoint of model '%s' compiled from another source (fnv1a-64 "
             "%016llx, this one's is %016llx); --force loads it anyway",
             shown(m->name, b1, sizeof b1), (unsigned long long)by->hash, (unsigned long long)m->hash);
        return -1;
    }
    msgf(msg, msglen, "a checkpoint of model %s, not of this model %s; --force loads it anyway",
         model_text(by->name ? by->name : "?", by->has_hash, by->hash, b1, sizeof b1),
         model_text(m->name, m->hash != 0, m->hash, b2, sizeof b2));
    return -1;
}

static int decode(const netrt_model *m, const json_doc *d, const unsigned char *data, size_t data_len,
                  slot *slots, void *p, void *o, netrt_meta *meta, unsigned flags, char *msg, size_t msglen) {
    saver by = {0};
    size_t total = m->n_tensors + m->n_state, c, i, n_state_found = 0;
    const json_value *root = &d->v[0];
    int has_steps = 0, has_crc = 0, is_state;
    uint64_t steps = 0, at;
    uint32_t crc = 0;
    char b[200];
    if (root->type != JSON_OBJECT) {
        msgf(msg, msglen, "the header is not a JSON object");
        return -1;
    }
    for (c = root->first; c; c = d->v[c].next) {
        const json_value *v = &d->v[c];
        if (strcmp(v->key, "__metadata__") == 0) {
            if (read_meta(d, v, &has_steps, &steps, meta, &has_crc, &crc, &by, msg, msglen))
                return -1;
            continue;
        }
        for (i = 0; i < total; i++)
            if (strcmp(entry(m, i, &is_state)->name, v->key) == 0)
                break;
        if (i == total) {
            msgf(msg, msglen,
                 "unknown tensor '%s' (model '%s' has no such parameter or "
                 "optimizer state)",
                 shown(v->key, b, sizeof b), m->name);
            return -1;
        }
        if (read_entry(d, v, entry(m, i, &is_state), data_len, &slots[i], msg, msglen))
            return -1;
        slots[i].index = i;
        n_state_found += is_state;
    }
    for (i = 0; i < m->n_tensors; i++)
        if (!slots[i].found) {
            msgf(msg, msglen, "tensor '%s' is missing", m->tensors[i].name);
            return -1;
        }
    if (m->n_state && (n_state_found || has_steps))
        for (i = m->n_tensors; i < total; i++)
            if (!slots[i].found) {
                msgf(msg, msglen, "optimizer state '%s' is missing", m->state[i - m->n_tensors].name);
                return -1;
            }
    if (m->n_state && n_state_found && !has_steps) {
        msgf(msg, msglen, "optimizer state without the step count (__metadata__ 'netc.steps')");
        return -1;
    }
    /* The data must be covered exactly: sort by offset, then walk. */
    {
        size_t n = 0;
        for (i = 0; i < total; i++)
            if (slots[i].found)
                slots[n++] = slots[i];
        qsort(slots, n, sizeof *slots, slot_cmp);
        for (i = 0, at = 0; i < n; i++) {
            const char *name = entry(m, slots[i].index, &is_state)->name;
            if (slots[i].begin < at) {
                msgf(msg, msglen, "tensors '%s' and '%s' overlap in the data",
                     entry(m, slots[i - 1].index, &is_state)->name, name);
                return -1;
            }
            if (slots[i].begin > at) {
                msgf(msg, msglen, "%llu unused data bytes before tensor '%s'",
                     (unsigned long long)(slots[i].begin - at), name);
                return -1;
            }
            at = slots[i].end;
        }
        if (at != data_len) {
            msgf(msg, msglen, "%llu bytes after the last tensor's data", (unsigned long long)(data_len - at));
            return -1;
        }
        if (has_crc && crc32(data, data_len) != crc) {
            msgf(msg, msglen,
                 "the data does not match its checksum (netc.crc32): the file is "
                 "damaged");
            return -1;
        }
        if (!(flags & NETRT_LOAD_ANY_MODEL) && check_saver(m, &by, msg, msglen))
            return -1;
        if (o && m->optim_size >= sizeof(uint64_t))
            memcpy(o, &steps, sizeof steps);
        if (o)
            for (i = 0; i < m->n_state; i++)
                memset((float *)o + m->state[i].offset, 0, numel(&m->state[i]) * sizeof(float));
        for (i = 0; i < n; i++) {
            const netrt_tensor *t = entry(m, slots[i].index, &is_state);
            float *dst = is_state ? (float *)o : (float *)p;
            if (is_state && !o)
                continue;
            if (decode_floats(data + slots[i].begin, numel(t), dst + t->offset, t->name, msg, msglen))
                return -1;
        }
    }
    meta->has_optim = has_steps;
    return 0;
}

int netrt_ckpt_decode(const netrt_model *m, const unsigned char *buf, size_t len, void *p, void *o,
                      netrt_meta *meta, unsigned flags, char *msg, size_t msglen) {
    uint64_t hl = 0;
    size_t total, data_len, i;
    json_doc d;
    slot *slots;
    char jerr[200];
    int status;
    memset(meta, 0, sizeof *meta);
    if (netrt_ckpt_check_model(m, msg, msglen))
        return -1;
    if (len < 8) {
        msgf(msg, msglen,
             "%zu bytes: too short for a safetensors file (it begins with an "
             "8-byte header length)",
             len);
        return -1;
    }
    for (i = 0; i < 8; i++)
        hl |= (uint64_t)buf[i] << (8 * i);
    if (hl > NETRT_HEADER_MAX) {
        msgf(msg, msglen,
             "header length %llu is over the limit of %u bytes (not a "
             "safetensors file, or damaged)",
             (unsigned long long)hl, NETRT_HEADER_MAX);
        return -1;
    }
    if (hl > len - 8) {
        msgf(msg, msglen,
             "header length %llu runs past the end of the file (%zu bytes): "
             "truncated or damaged",
             (unsigned long long)hl, len);
        return -1;
    }
    if (hl < 2 || buf[8] != '{') {
        msgf(msg, msglen, "the header does not begin with '{' (not a safetensors file?)");
        return -1;
    }
    if (netrt_json_parse((const char *)buf + 8, (size_t)hl, &d, jerr, sizeof jerr)) {
        msgf(msg, msglen, "bad JSON in the header: %s", jerr);
        return -1;
    }
    data_len = len - 8 - (size_t)hl;
    total = m->n_tensors + m->n_state;
    if (!(slots = calloc(total, sizeof *slots))) {
        msgf(msg, msglen, "out of memory");
        netrt_json_free(&d);
        return -1;
    }
    status = decode(m, &d, buf + 8 + hl, data_len, slots, p, o, meta, flags, msg, msglen);
    free(slots);
    netrt_json_free(&d);
    return status;
}

/* Reads at most cap bytes of path into a new buffer; *len gets the size.
 * The file's size is checked before allocating, so a huge file costs
 * nothing.  Returns the buffer, or NULL with a message. */
static unsigned char *read_file(const char *path, size_t cap, size_t *len, char *msg, size_t msglen) {
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        msgf(msg, msglen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        msgf(msg, msglen, "cannot read: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        msgf(msg, msglen, "not a regular file");
        goto fail;
    }
    if ((uintmax_t)st.st_size > cap) {
        msgf(msg, msglen,
             "%jd bytes: larger than a checkpoint of this model can be (%zu bytes "
             "at most)",
             (intmax_t)st.st_size, cap);
        goto fail;
    }
    *len = (size_t)st.st_size;
    if (!(buf = malloc(*len ? *len : 1))) {
        msgf(msg, msglen, "out of memory");
        goto fail;
    }
    while (got < *len) {
        ssize_t r = read(fd, buf + got, *len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            msgf(msg, msglen, "cannot read: %s", strerror(errno));
            goto fail;
        }
        if (r == 0) {
            msgf(msg, msglen, "the file shrank while it was read");
            goto fail;
        }
        got += (size_t)r;
    }
    close(fd);
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

static void error_line(char *err, size_t errlen, const char *path, const char *msg) {
    if (errlen)
        snprintf(err, errlen, "%s: error: %s", path, msg);
}

int netrt_load(const netrt_model *m, void *p, void *o, netrt_meta *meta, const char *path, char *err,
               size_t errlen) {
    return netrt_load_with(m, p, o, meta, path, 0, err, errlen);
}

int netrt_load_with(const netrt_model *m, void *p, void *o, netrt_meta *meta, const char *path,
                    unsigned flags, char *err, size_t errlen) {
    char msg[512];
    unsigned char *buf = NULL;
    void *sp = NULL, *so = NULL;
    size_t len = 0, data = 0, i;
    netrt_meta mt;
    int status = -1, is_state;
    if (netrt_ckpt_check_model(m, msg, sizeof msg))
        goto done;
    for (i = 0; i < m->n_tensors + m->n_state; i++)
        data += numel(entry(m, i, &is_state)) * sizeof(float);
    if (!(sp = malloc(m->params_size)) || (o && !(so = malloc(m->optim_size ? m->optim_size : 1)))) {
        msgf(msg, sizeof msg, "out of memory");
        goto done;
    }
    if (!(buf = read_file(path, 8 + (size_t)NETRT_HEADER_MAX + data, &len, msg, sizeof msg)))
        goto done;
    /* Scratch copies start as the caller's, so bytes the file does not set
     * (padding, other optimizer fields) keep their values. */
    memcpy(sp, p, m->params_size);
    if (o)
        memcpy(so, o, m->optim_size);
    if (netrt_ckpt_decode(m, buf, len, sp, so, &mt, flags, msg, sizeof msg))
        goto done;
    memcpy(p, sp, m->params_size);
    if (o)
        memcpy(o, so, m->optim_size);
    if (meta)
        *meta = mt;
    status = 0;
done:
    if (status)
        error_line(err, errlen, path, msg);
    free(buf);
    free(sp);
    free(so);
    return status;
}

/* ---- saving ---- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) {
    va_list ap;
    int k;
    for (;;) {
        size_t room = b->cap - b->n;
        if (b->oom)
            return;
        va_start(ap, fmt);
        k = vsnprintf(b->s ? b->s + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        {
            size_t cap = b->cap * 2 + (size_t)k + 64;
            char *s = realloc(b->s, cap);
            if (!s) {
                b->oom = 1;
                return;
            }
            b->s = s;
            b->cap = cap;
        }
    }
}

/* A JSON string literal. */
static void put_str(sbuf *b, const char *s) {
    put(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            put(b, "\\u%04x", c);
        else
            put(b, "%c", c);
    }
    put(b, "\"");
}

/* The whole file in memory: header length, header, data. */
static unsigned char *encode(const netrt_model *m, const void *p, const void *o, const netrt_meta *meta,
                             size_t *len) {
    size_t i, total = m->n_tensors + (o ? m->n_state : 0), at = 0, data = 0, hl, k;
    sbuf b = {0};
    unsigned char *out, *dst;
    uint64_t steps = 0;
    int is_state;
    for (i = 0; i < total; i++)
        data += numel(entry(m, i, &is_state)) * sizeof(float);
    if (!(dst = malloc(data ? data : 1)))
        return NULL;
    for (i = 0, at = 0; i < total; i++) {
        const netrt_tensor *t = entry(m, i, &is_state);
        const float *src = (const float *)(is_state ? o : p) + t->offset;
        for (k = 0; k < numel(t); k++, at += 4) {
            uint32_t u;
            memcpy(&u, src + k, sizeof u);
            dst[at] = (unsigned char)u;
            dst[at + 1] = (unsigned char)(u >> 8);
            dst[at + 2] = (unsigned char)(u >> 16);
            dst[at + 3] = (unsigned char)(u >> 24);
        }
    }
    if (o && m->optim_size >= sizeof steps)
        memcpy(&steps, o, sizeof steps);
    put(&b, "{\"__metadata__\":{\"format\":\"pt\",\"netc.crc32\":\"%08lx\"", (unsigned long)crc32(dst, data));
    if (meta)
        put(&b, ",\"netc.epoch\":\"%llu\"", (unsigned long long)meta->epoch);
    put(&b, ",\"netc.model\":");
    put_str(&b, m->name);
    if (meta && meta->has_seed)
        put(&b, ",\"netc.seed\":\"%llu\"", (unsigned long long)meta->seed);
    if (m->hash)
        put(&b, ",\"netc.source_hash\":\"%016llx\"", (unsigned long long)m->hash);
    if (o)
        put(&b, ",\"netc.steps\":\"%llu\"", (unsigned long long)steps);
    put(&b, ",\"netc.version\":");
    put_str(&b, m->version);
    put(&b, "}");
    for (i = 0, at = 0; i < total; i++) {
        const netrt_tensor *t = entry(m, i, &is_state);
        size_t bytes = numel(t) * sizeof(float);
        put(&b, ",");
        put_str(&b, t->name);
        if (t->cols)
            put(&b, ":{\"dtype\":\"F32\",\"shape\":[%zu,%zu]", t->rows, t->cols);
        else
            put(&b, ":{\"dtype\":\"F32\",\"shape\":[%zu]", t->rows);
        put(&b, ",\"data_offsets\":[%zu,%zu]}", at, at + bytes);
        at += bytes;
    }
    put(&b, "}");
    while (!b.oom && b.n % 8) /* the data starts 8-byte aligned, as safetensors writes it */
        put(&b, " ");
    hl = b.n;
    out = b.oom ? NULL : malloc(8 + hl + data);
    if (out) {
        for (i = 0; i < 8; i++)
            out[i] = (unsigned char)((uint64_t)hl >> (8 * i));
        memcpy(out + 8, b.s, hl);
        memcpy(out + 8 + hl, dst, data);
        *len = 8 + hl + data;
    }
    free(b.s);
    free(dst);
    return out;
}

static int write_all(int fd, const unsigned char *b, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) { /* should not happen for a regular file; do not spin */
            errno = EIO;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* What a non-regular file is, for messages. */
static const char *file_kind(mode_t mode) {
    return S_ISDIR(mode) ? "a folder"
        : S_ISFIFO(mode) ? "a FIFO"
        : S_ISCHR(mode)  ? "a character device"
        : S_ISBLK(mode)  ? "a block device"
        : S_ISSOCK(mode) ? "a socket"
                         : "not a regular file";
}

/* path may receive a checkpoint: it names nothing yet, or a regular file
 * (through symlinks).  Anything else is refused, never renamed over: a
 * FIFO, a device (as root, /dev/null would become a regular file), a
 * socket, a folder.  Writing in place is no answer either, since a
 * checkpoint is only ever replaced whole.  Returns 0, or -1 with msg. */
static int check_target(const char *path, char *msg, size_t msglen) {
    struct stat st;
    size_t n = strlen(path);
    if (!n || path[n - 1] == '/') {
        msgf(msg, msglen, "not a file name");
        return -1;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        msgf(msg, msglen,
             "%s, not a regular file: a checkpoint is saved by renaming a new "
             "file over its name, which would replace it",
             file_kind(st.st_mode));
        return -1;
    }
    return 0;
}

/* The temporary file beside path: a sibling, so that rename() stays in one
 * file system and is atomic.  Creates it (O_EXCL, a fresh name on a clash)
 * into tmp (cap bytes); returns the descriptor, or -1 with errno. */
static int create_temporary(const char *path, char *tmp, size_t cap) {
    static unsigned counter;
    int fd;
    do {
        snprintf(tmp, cap, "%s.tmp-%ld-%u", path, (long)getpid(), counter++);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    } while (fd < 0 && errno == EEXIST);
    return fd;
}

int netrt_save_check(const char *path, char *err, size_t errlen) {
    char msg[512], *tmp = NULL;
    size_t cap = strlen(path) + 64;
    int fd, status = -1;
    if (check_target(path, msg, sizeof msg))
        goto done;
    if (!(tmp = malloc(cap))) {
        msgf(msg, sizeof msg, "out of memory");
        goto done;
    }
    /* The only sure test that netrt_save can create its temporary file
     * (the folder exists, is writable, the name is not too long, the file
     * system is not read-only) is to create one. */
    if ((fd = create_temporary(path, tmp, cap)) < 0) {
        msgf(msg, sizeof msg, "cannot create a file beside it: %s", strerror(errno));
        goto done;
    }
    close(fd);
    unlink(tmp);
    status = 0;
done:
    if (status)
        error_line(err, errlen, path, msg);
    free(tmp);
    return status;
}

int netrt_save(const netrt_model *m, const void *p, const void *o, const netrt_meta *meta, const char *path,
               char *err, size_t errlen) {
    char msg[512];
    unsigned char *file = NULL;
    char *tmp = NULL, *dir = NULL;
    const char *slash;
    size_t len = 0, plen = strlen(path);
    int fd = -1, status = -1, dfd;
    if (netrt_ckpt_check_model(m, msg, sizeof msg))
        goto done;
    if (check_target(path, msg, sizeof msg))
        goto done;
    if (!(file = encode(m, p, o, meta, &len)) || !(tmp = malloc(plen + 64)) || !(dir = malloc(plen + 2))) {
        msgf(msg, sizeof msg, "out of memory");
        goto done;
    }
    if ((fd = create_temporary(path, tmp, plen + 64)) < 0) {
        msgf(msg, sizeof msg, "cannot create a temporary file beside it: %s", strerror(errno));
        goto done;
    }
    if (write_all(fd, file, len) != 0) {
        msgf(msg, sizeof msg, "cannot write (%s); the previous file is unchanged", strerror(errno));
        goto fail;
    }
    if (fsync(fd) != 0) {
        msgf(msg, sizeof msg, "cannot sync to disk (%s); the previous file is unchanged", strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        msgf(msg, sizeof msg, "cannot write (%s); the previous file is unchanged", strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        msgf(msg, sizeof msg, "cannot replace it (%s); the previous file is unchanged", strerror(errno));
        goto fail;
    }
    /* The rename is durable once the folder's entry is on disk. */
    slash = strrchr(path, '/');
    if (slash == path)
        strcpy(dir, "/");
    else if (slash) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    } else
        strcpy(dir, ".");
    if ((dfd = open(dir, O_RDONLY | O_CLOEXEC)) >= 0) {
        int r = fsync(dfd), e = errno;
        close(dfd);
        /* Some file systems cannot sync a folder (EINVAL): nothing to do. */
        if (r != 0 && e != EINVAL && e != EBADF) {
            msgf(msg, sizeof msg, "written, but syncing its folder failed: %s", strerror(e));
            goto done;
        }
    }
    status = 0;
    goto done;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
done:
    if (status)
        error_line(err, errlen, path, msg);
    free(file);
    free(tmp);
    free(dir);
    return status;
}
