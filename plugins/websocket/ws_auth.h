/* ws_auth.h — who may subscribe: the token of an upgrade request and its
 * HS256 JWT check (RFC 7519, verified by libjwt).
 *
 * Pure: no host, the clock is a parameter; a ws_auth_t is immutable after
 * ws_auth_new, so any thread may check with it.
 * Policy (SPEC "websocket"): only HS256 is accepted ("none", HS384/512, RS*,
 * ES* are refused even when their signature would verify); "exp" and "nbf"
 * are checked with no leeway when present (a token without "exp" never
 * expires), and must be numbers when present. The recipient claim must be a
 * string or an integer (compared as its decimal text). A path with no
 * recipient (broadcasts only) accepts any valid token: it only needs to
 * prove the client may listen at all.
 */
#ifndef CC_WS_AUTH_H
#define CC_WS_AUTH_H

#include <stddef.h>
#include <time.h>

#include "ws_http.h"

#define WS_AUTH_MAX_TOKEN 4096   /* longer tokens are refused (401) */

typedef struct ws_auth ws_auth_t;

/* A checker for tokens signed with secret (its bytes are the HMAC key)
 * whose claim recipient_claim ("sub") names the recipient. Both borrowed
 * (copied). Returns new (ws_auth_free), or NULL when out of memory or when
 * secret is empty. */
ws_auth_t *ws_auth_new(const char *secret, const char *recipient_claim);

void ws_auth_free(ws_auth_t *a);

/* Checks token[0..len) (borrowed, need not be NUL-terminated; NULL = no
 * token) for a subscription to recipient (NULL: a path without recipient)
 * at time now. Returns 0 when allowed; 401 when the token is missing,
 * malformed (not three base64url parts, bad JSON), signed with another key
 * or algorithm, expired (now >= exp) or not yet valid (now < nbf); 403 when
 * it is valid but its recipient claim is missing or differs from recipient.
 * why (may be NULL) gets a short reason for logs, never token contents. */
int ws_auth_check(const ws_auth_t *a, const char *token, size_t len, const char *recipient,
                  time_t now, char *why, size_t whylen);

/* The token of an upgrade request, in this order: query parameter
 * token_param ("token"; an empty value counts as none), "Authorization:
 * Bearer <t>" (scheme case-insensitive), then the
 * Sec-WebSocket-Protocol list: browsers cannot set headers, so a page
 * passes new WebSocket(url, [token]) (or [name, token]); the item taken is
 * the first shaped like a JWT (two dots). Returns a pointer into req
 * (borrowed, lives as req; not NUL-terminated in the protocol case) with
 * *len set, or NULL. *subprotocol_echo (may be NULL) is set to the same
 * pointer when the token came from Sec-WebSocket-Protocol, else NULL: the
 * 101 response must then carry "Sec-WebSocket-Protocol: <those len bytes>"
 * or browsers fail the connection. */
const char *ws_auth_token(const ws_request_t *req, const char *token_param, size_t *len,
                          const char **subprotocol_echo);

#endif
