/* ws_http.c — HTTP/1.1 request heads (RFC 7230 section 3) and the
 * WebSocket opening handshake (RFC 6455 section 4.2.1).
 *
 * The head is copied into the request and split in place with NULs, so the
 * parser allocates nothing and its strings live as long as the request.
 * It is strict where leniency would let two parsers disagree on where a
 * header ends (bare LF, obs-fold, space before the colon: all 400).
 */
#include "ws_http.h"

#include <stddef.h>
#include <string.h>

#include <openssl/evp.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int http_fail(ws_request_t *req, int status, const char *why)
{
    req->why = why;
    return status;
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool ascii_ieq(const char *a, const char *b)
{
    while (*a && ascii_lower(*a) == ascii_lower(*b)) a++, b++;
    return ascii_lower(*a) == ascii_lower(*b);
}

static bool ascii_ieqn(const char *a, const char *b, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (ascii_lower(a[k]) != ascii_lower(b[k]) || b[k] == '\0') return false;
    return true;
}

/* RFC 7230 tchar: the characters of a method or a header name. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void ws_http_request_init(ws_request_t *req)
{
    /* The two 8 KB buffers are written before they are read: clearing
     * only the fields keeps a handshake from paying for 16 KB of memset. */
    memset(req, 0, offsetof(ws_request_t, head));
    req->head[0] = req->decoded[0] = '\0';
}

/* Checks the part of the request line received so far (buf[0..len), no LF
 * in it), so that garbage (a TLS hello on a plain port) or an endless target
 * is refused without waiting for the head to fill up. */
static int request_line_prefix(const char *buf, size_t len, ws_request_t *req)
{
    size_t k = 0;
    while (k < len && is_tchar((unsigned char)buf[k])) k++;
    if (k == len) return WS_HTTP_MORE;
    if (buf[k] != ' ' || k == 0) return http_fail(req, 400, "malformed request line");
    size_t t = ++k;
    while (k < len && buf[k] != ' ' && buf[k] != '\r') {
        if (k - t >= WS_HTTP_MAX_TARGET) return http_fail(req, 414, "request-target too long");
        k++;
    }
    return WS_HTTP_MORE;
}

/* Percent-decodes s[0..n) into out (NUL-terminated); plus_space reads '+'
 * as ' ' (query strings). Returns the next free byte of out, or NULL on a
 * bad escape or an encoded NUL. */
static char *pct_decode(const char *s, size_t n, bool plus_space, char *out)
{
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (c == '%') {
            if (k + 2 >= n) return NULL;
            int hi = hex_val(s[k + 1]), lo = hex_val(s[k + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return NULL;
            c = (char)(hi * 16 + lo);
            k += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        *out++ = c;
    }
    *out++ = '\0';
    return out;
}

/* Splits the target into path and query and decodes them. */
static int parse_target(ws_request_t *req, const char *target)
{
    const char *p = target;
    if (*p != '/') {
        /* absolute-form (RFC 7230 5.3.2): skip scheme and authority */
        size_t skip = 0;
        if (ascii_ieqn("http://", p, 7)) skip = 7;
        else if (ascii_ieqn("https://", p, 8)) skip = 8;
        else return http_fail(req, 400, "request-target is not a path");
        p += skip;
        while (*p && *p != '/' && *p != '?') p++;
    }
    if (strchr(target, '#')) return http_fail(req, 400, "fragment in request-target");
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    char *out = req->decoded;
    req->path = out;
    if (plen == 0 || *p != '/') *out++ = '/'; /* "http://host?x" has path "/" */
    out = pct_decode(p, plen, false, out);
    if (!out) return http_fail(req, 400, "bad percent escape in path");
    req->query = q ? q + 1 : "";
    const char *s = req->query;
    while (*s) {
        size_t n = strcspn(s, "&");
        if (n > 0) {
            if (req->nparams == WS_HTTP_MAX_PARAMS)
                return http_fail(req, 400, "too many query parameters");
            const char *eq = memchr(s, '=', n);
            size_t nlen = eq ? (size_t)(eq - s) : n;
            ws_http_param_t *pr = &req->params[req->nparams++];
            pr->name = out;
            out = pct_decode(s, nlen, true, out);
            if (!out) return http_fail(req, 400, "bad percent escape in query");
            pr->value = out;
            out = eq ? pct_decode(eq + 1, n - nlen - 1, true, out) : pct_decode("", 0, true, out);
            if (!out) return http_fail(req, 400, "bad percent escape in query");
        }
        s += n;
        if (*s == '&') s++;
    }
    return WS_HTTP_DONE;
}

/* "METHOD SP target SP HTTP/x.y", NUL-terminated, split in place. */
static int parse_request_line(ws_request_t *req, char *line)
{
    char *p = line;
    while (is_tchar((unsigned char)*p)) p++;
    if (p == line || *p != ' ') return http_fail(req, 400, "malformed request line");
    *p++ = '\0';
    req->method = line;
    char *t = p;
    while ((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7F) p++;
    if ((size_t)(p - t) > WS_HTTP_MAX_TARGET) return http_fail(req, 414, "request-target too long");
    if (p == t || *p != ' ') return http_fail(req, 400, "malformed request-target");
    *p++ = '\0';
    req->target = t;
    if (strncmp(p, "HTTP/", 5) != 0 || !(p[5] >= '0' && p[5] <= '9') || p[6] != '.' ||
        !(p[7] >= '0' && p[7] <= '9') || p[8] != '\0')
        return http_fail(req, 400, "malformed HTTP version");
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return http_fail(req, 505, "HTTP version not supported");
    req->version_minor = p[7] - '0';
    return parse_target(req, t);
}

/* "name: value" (no line end), split in place. */
static int parse_header(ws_request_t *req, char *line)
{
    char *p = line;
    if (*p == ' ' || *p == '\t') return http_fail(req, 400, "obsolete header line folding");
    while (is_tchar((unsigned char)*p)) p++;
    if (p == line || *p != ':') return http_fail(req, 400, "malformed header name");
    *p++ = '\0';
    while (*p == ' ' || *p == '\t') p++;
    char *v = p, *end = p;
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7F) return http_fail(req, 400, "control byte in header value");
        if (c != ' ' && c != '\t') end = p + 1;
    }
    *end = '\0';
    if (req->nheaders == WS_HTTP_MAX_HEADERS) return http_fail(req, 431, "too many header lines");
    req->headers[req->nheaders].name = line;
    req->headers[req->nheaders].value = v;
    req->nheaders++;
    return WS_HTTP_DONE;
}

/* Line ends must be CRLF: a lone CR or LF, or a NUL, would make this
 * parser and a proxy in front of it see different headers. Checks
 * h[from..to). */
static int check_line_ends(ws_request_t *req, const char *h, size_t from, size_t to)
{
    for (size_t k = from; k < to; k++) {
        if (h[k] == '\0') return http_fail(req, 400, "NUL byte in request head");
        if (h[k] == '\r' && h[k + 1] != '\n') return http_fail(req, 400, "bare CR in request head");
        if (h[k] == '\n' && (k == 0 || h[k - 1] != '\r'))
            return http_fail(req, 400, "bare LF in request head");
    }
    return WS_HTTP_DONE;
}

/* Parses the complete head in req->head[0..n), ending in CRLFCRLF. The
 * request line is judged before the headers, as when it is judged early. */
static int parse_head(ws_request_t *req, size_t n)
{
    char *h = req->head;
    /* the head may hold a NUL (refused below): search by length */
    size_t first = 0;
    while (!(h[first] == '\r' && h[first + 1] == '\n')) first++;
    char *line = h, *eol = h + first;
    int rc = check_line_ends(req, h, 0, first);
    if (rc != WS_HTTP_DONE) return rc;
    *eol = '\0';
    if ((rc = parse_request_line(req, line)) != WS_HTTP_DONE) return rc;
    if ((rc = check_line_ends(req, h, first + 2, n)) != WS_HTTP_DONE) return rc;
    for (line = eol + 2; *line != '\r'; line = eol + 2) {
        eol = strstr(line, "\r\n");
        *eol = '\0';
        if ((rc = parse_header(req, line)) != WS_HTTP_DONE) return rc;
    }
    if (req->version_minor == 1 && ws_http_header_count(req, "Host") != 1)
        return http_fail(req, 400, "HTTP/1.1 request needs exactly one Host header");
    return WS_HTTP_DONE;
}

int ws_http_parse(const char *buf, size_t len, ws_request_t *req, size_t *consumed)
{
    *consumed = 0;
    size_t limit = len < WS_HTTP_MAX_HEAD ? len : WS_HTTP_MAX_HEAD;
    /* The request line's prefix checks run first on every call, so that a
     * verdict never depends on how the bytes were split into reads. */
    const char *lf = memchr(buf, '\n', limit);
    int rc = request_line_prefix(buf, lf ? (size_t)(lf - buf) : limit, req);
    if (rc != WS_HTTP_MORE) return rc;
    size_t k = req->scanned > 3 ? req->scanned - 3 : 0;
    size_t end = 0;
    for (; k + 4 <= limit; k++) {
        if (buf[k] == '\r' && buf[k + 1] == '\n' && buf[k + 2] == '\r' && buf[k + 3] == '\n') {
            end = k + 4;
            break;
        }
    }
    if (end == 0) {
        size_t prev = req->scanned;
        req->scanned = limit;
        if (lf && (size_t)(lf - buf) >= prev) {
            /* the request line is whole (and new): judge it now, as
             * parse_head would */
            size_t n = (size_t)(lf - buf);
            if (memchr(buf, '\0', n)) return http_fail(req, 400, "NUL byte in request head");
            if (n == 0 || buf[n - 1] != '\r') return http_fail(req, 400, "bare LF in request head");
            if (memchr(buf, '\r', n - 1)) return http_fail(req, 400, "bare CR in request head");
            memcpy(req->head, buf, n - 1);
            req->head[n - 1] = '\0';
            req->nparams = 0;
            rc = parse_request_line(req, req->head);
            req->nparams = 0;
            req->method = req->target = req->path = req->query = NULL;
            if (rc != WS_HTTP_DONE) return rc;
        }
        if (len >= WS_HTTP_MAX_HEAD) return http_fail(req, 431, "request head larger than 8 KB");
        return WS_HTTP_MORE;
    }
    memcpy(req->head, buf, end);
    req->head[end] = '\0';
    req->head_len = end;
    req->nheaders = req->nparams = 0;
    rc = parse_head(req, end);
    if (rc != WS_HTTP_DONE) return rc;
    *consumed = end;
    return WS_HTTP_DONE;
}

const char *ws_http_header(const ws_request_t *req, const char *name)
{
    for (size_t k = 0; k < req->nheaders; k++)
        if (ascii_ieq(req->headers[k].name, name)) return req->headers[k].value;
    return NULL;
}

size_t ws_http_header_count(const ws_request_t *req, const char *name)
{
    size_t n = 0;
    for (size_t k = 0; k < req->nheaders; k++)
        if (ascii_ieq(req->headers[k].name, name)) n++;
    return n;
}

bool ws_http_header_has_token(const ws_request_t *req, const char *name, const char *token)
{
    size_t tlen = strlen(token);
    for (size_t k = 0; k < req->nheaders; k++) {
        if (!ascii_ieq(req->headers[k].name, name)) continue;
        const char *s = req->headers[k].value;
        while (*s) {
            while (*s == ' ' || *s == '\t') s++;
            size_t n = strcspn(s, ",");
            size_t m = n;
            while (m > 0 && (s[m - 1] == ' ' || s[m - 1] == '\t')) m--;
            if (m == tlen && ascii_ieqn(s, token, tlen)) return true;
            s += n;
            if (*s == ',') s++;
        }
    }
    return false;
}

const char *ws_http_query(const ws_request_t *req, const char *name)
{
    for (size_t k = 0; k < req->nparams; k++)
        if (strcmp(req->params[k].name, name) == 0) return req->params[k].value;
    return NULL;
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* base64 of 16 bytes: 22 alphabet characters then "==". */
static bool key_valid(const char *key)
{
    if (strlen(key) != 24 || key[22] != '=' || key[23] != '=') return false;
    for (int k = 0; k < 22; k++)
        if (!is_b64(key[k])) return false;
    return true;
}

int ws_http_upgrade_check(const ws_request_t *req, char accept[WS_HTTP_ACCEPT_LEN + 1],
                          const char **why)
{
    const char *dummy;
    if (!why) why = &dummy;
    accept[0] = '\0';
    if (strcmp(req->method, "GET") != 0) return *why = "WebSocket upgrade must be a GET", 405;
    if (req->version_minor != 1) return *why = "WebSocket upgrade needs HTTP/1.1", 400;
    if (!ws_http_header(req, "Host")) return *why = "no Host header", 400;
    if (!ws_http_header_has_token(req, "Upgrade", "websocket"))
        return *why = "no \"Upgrade: websocket\" header", 426;
    if (!ws_http_header_has_token(req, "Connection", "upgrade"))
        return *why = "Connection header lacks \"upgrade\"", 400;
    const char *ver = ws_http_header(req, "Sec-WebSocket-Version");
    if (ws_http_header_count(req, "Sec-WebSocket-Version") != 1 || strcmp(ver, "13") != 0)
        return *why = "Sec-WebSocket-Version must be 13", 426;
    const char *key = ws_http_header(req, "Sec-WebSocket-Key");
    if (!key) return *why = "no Sec-WebSocket-Key header", 400;
    if (ws_http_header_count(req, "Sec-WebSocket-Key") != 1)
        return *why = "repeated Sec-WebSocket-Key header", 400;
    if (!key_valid(key)) return *why = "Sec-WebSocket-Key is not base64 of 16 bytes", 400;
    if (ws_http_accept(key, strlen(key), accept) != 0) return *why = "SHA-1 failed", 500;
    *why = NULL;
    return 0;
}

int ws_http_accept(const char *key, size_t len, char accept[WS_HTTP_ACCEPT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new(); /* freed below */
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, key, len) == 1 &&
             EVP_DigestUpdate(ctx, ws_guid, sizeof ws_guid - 1) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20;
    EVP_MD_CTX_free(ctx);
    if (!ok) return -1;
    EVP_EncodeBlock((unsigned char *)accept, md, 20);
    accept[WS_HTTP_ACCEPT_LEN] = '\0';
    return 0;
}

bool ws_http_origin_allowed(const ws_request_t *req, const char *const *allow, size_t n)
{
    if (n == 0) return true;
    const char *origin = ws_http_header(req, "Origin");
    if (!origin) return true;
    for (size_t k = 0; k < n; k++)
        if (strcmp(allow[k], "*") == 0 || ascii_ieq(allow[k], origin)) return true;
    return false;
}

const char *ws_http_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}
