/* ws_frame.h — RFC 6455 framing: an incremental parser for client frames
 * (section 5) and the encoder of server frame headers.
 *
 * Pure: no sockets, no host; one parser per connection, used by one thread.
 * Bounded: whatever a peer sends, a parser holds at most max_message bytes
 * of message payload plus its fixed struct (the buffer grows with the bytes
 * that actually arrived, never with a length the peer merely announced).
 * No extensions are negotiated, so every RSV bit must be 0.
 */
#ifndef CC_WS_FRAME_H
#define CC_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws_utf8.h"

/* Opcodes (section 5.2). */
#define WS_OP_CONT   0x0
#define WS_OP_TEXT   0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE  0x8
#define WS_OP_PING   0x9
#define WS_OP_PONG   0xA

/* Close codes (section 7.4.1). */
#define WS_CLOSE_NORMAL      1000
#define WS_CLOSE_GOING_AWAY  1001
#define WS_CLOSE_PROTOCOL    1002
#define WS_CLOSE_NO_STATUS   1005  /* never sent: a close frame had no code */
#define WS_CLOSE_BAD_DATA    1007  /* invalid UTF-8                          */
#define WS_CLOSE_POLICY      1008
#define WS_CLOSE_TOO_BIG     1009
#define WS_CLOSE_INTERNAL    1011
#define WS_CLOSE_TRY_LATER   1013  /* slow consumer                          */

#define WS_FRAME_HEADER_MAX 10     /* server frame header: unmasked          */
#define WS_CONTROL_MAX      125    /* control frame payload limit            */
#define WS_CLOSE_FRAME_MAX  (2 + WS_CONTROL_MAX) /* a whole close frame: 127 */

typedef enum ws_frame_result {
    WS_FRAME_MORE = 0, /* all input consumed, no whole message yet           */
    WS_FRAME_TEXT,     /* a whole text message (valid UTF-8)                 */
    WS_FRAME_BINARY,   /* a whole binary message                             */
    WS_FRAME_PING,     /* a ping: answer with a pong of the same payload     */
    WS_FRAME_PONG,     /* a pong                                             */
    WS_FRAME_CLOSE,    /* the peer's close: code and reason in the message   */
    WS_FRAME_ERROR     /* protocol violation: send a close with msg.code     */
} ws_frame_result_t;

/* What ws_frame_feed found. data/len: the payload (TEXT, BINARY, PING, PONG)
 * or the close reason (CLOSE, valid UTF-8, not NUL-terminated). data is
 * borrowed: it points either into the parser's buffer or into the caller's
 * input (unmasked in place, zero-copy when a whole unfragmented frame is
 * in the input); it stays valid until the next ws_frame_feed/trim/free on
 * this parser and, for the second case, while the caller keeps its input
 * bytes (so handle the message before draining them). Never NULL after a
 * non-MORE result, even when len is 0.
 * code: CLOSE: the peer's code, WS_CLOSE_NO_STATUS when its frame had none;
 * ERROR: the code to close with (1002, 1007 or 1009). why: ERROR only, a
 * static text for logs ("unmasked client frame"). */
typedef struct ws_msg {
    const uint8_t *data;
    size_t len;
    uint16_t code;
    const char *why;
} ws_msg_t;

/* One connection's parser: 224 bytes on x86-64 plus the message buffer
 * (none while idle, see ws_frame_parser_trim). Fields are private. */
typedef struct ws_frame_parser {
    size_t max_message;     /* limit on a data message (sum of fragments)    */
    uint8_t hdr[14];        /* header bytes gathered so far                  */
    uint8_t hdr_len;
    uint8_t hdr_need;       /* 2, then the full header length once known     */
    uint8_t opcode;         /* of the current frame                          */
    bool fin;
    uint8_t mask[4];
    uint64_t frame_len;     /* payload length of the current frame           */
    uint64_t frame_pos;     /* payload bytes of it seen so far               */
    uint8_t msg_opcode;     /* TEXT/BINARY while a message is open, else 0   */
    bool failed;            /* sticky after WS_FRAME_ERROR                   */
    uint16_t fail_code;
    const char *fail_why;
    ws_utf8_t utf8;         /* over the open text message                    */
    uint8_t *buf;           /* message payload, owned; NULL when idle        */
    size_t buf_len, buf_cap;
    bool buf_done;          /* buf holds a returned message: reset next call */
    uint8_t ctl[WS_CONTROL_MAX];  /* a control payload split across reads    */
    uint8_t ctl_len;
} ws_frame_parser_t;

/* Sets up p for a new connection; max_message > 0 bounds a data message. */
void ws_frame_parser_init(ws_frame_parser_t *p, size_t max_message);

/* Frees the message buffer (p itself is the caller's). */
void ws_frame_parser_free(ws_frame_parser_t *p);

/* Drops the message buffer when no message is open, so an idle connection
 * holds no payload memory; call it once the input is drained. */
void ws_frame_parser_trim(ws_frame_parser_t *p);

/* Feeds data[0..len) (borrowed, unmasked in place: the caller's bytes are
 * modified) and stops at the first whole message or error. *consumed says
 * how many bytes were used; feed the rest in the next call. Returns
 * WS_FRAME_MORE with *consumed == len when no message is whole yet.
 * Errors (WS_FRAME_ERROR, msg->code): 1002 for an unmasked frame, RSV bits,
 * an unknown opcode, a control frame fragmented or longer than 125, a
 * continuation with no message open, a new data message inside a fragmented
 * one, a length in a longer form than needed or with the top bit set, a
 * close payload of 1 byte or with a code that may not be sent; 1007 for
 * invalid UTF-8 in a text message (found as soon as it arrives) or a close
 * reason; 1009 when a data message would exceed max_message (found from the
 * frame header, before buffering); 1011 if the message buffer cannot grow
 * (out of memory). After an error the parser is dead: every later call
 * returns the same error and consumes nothing. */
ws_frame_result_t ws_frame_feed(ws_frame_parser_t *p, uint8_t *data, size_t len,
                                size_t *consumed, ws_msg_t *msg);

/* Writes the header of a final (FIN), unmasked server frame with this opcode
 * and payload length into out. Returns its length: 2, 4 or 10. */
size_t ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], int opcode, size_t len);

/* Writes a whole close frame into out: header, code (big-endian) and reason
 * (NULL for none) cut to 123 bytes at a UTF-8 character boundary. code 0
 * writes an empty close frame. Returns its length. */
size_t ws_frame_close(uint8_t out[WS_CLOSE_FRAME_MAX], uint16_t code, const char *reason);

/* True when a peer may send code in a close frame (1000-1003, 1007-1014,
 * 3000-4999). */
bool ws_close_code_valid(uint16_t code);

#endif
