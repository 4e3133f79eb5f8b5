/* ws_viewer.c — GET /: one self-contained page (inline CSS and JS, nothing
 * fetched from elsewhere) showing the live feed of this sink.
 *
 * The page reads the WebSocket path template from its <meta name="ws-path">
 * (filled in by ws_viewer_build), connects to it (recipient and token from
 * the form or the page's own ?recipient=&token= query), shows each event as a
 * row, filters by collection and operation, shows the connection state, and
 * reconnects with backoff, resuming with last_event_id.
 *
 * Stable hooks for tests: #state (text and data-state: connecting | open |
 * closed), #feed tr.event (data-operation, data-collection, data-id; hidden
 * when filtered out), #filter-collection (text: exact collection, empty =
 * all), #filter-operation (select: "" = all), #recipient, #token,
 * #token-mode (protocol | query), #connect, #count. The page's query may
 * preset recipient, token, token_mode, collection, operation and
 * last_event_id (replay from there on the first connection).
 */
#include <stdlib.h>
#include <string.h>

#include "ws_sink.h"

/* Pieces, each under C's 4095-byte literal limit; joined by ws_viewer_build. */
static const char *const ws_viewer_parts[] = {
    "<!doctype html>\n",
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    "<meta name=\"ws-path\" content=\"@WS_PATH@\">\n",
    "<title>changecast live</title>\n",
    "<style>\n",
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\n",
    "header{display:flex;flex-wrap:wrap;gap:.5em;align-items:center;padding:.6em 1em;",
    "background:#1d2330;color:#fff}\n",
    "header h1{font-size:1.1em;margin:0 1em 0 0}\n",
    "header input,header select,header button{font:inherit;padding:.2em .4em}\n",
    "#state{padding:.15em .6em;border-radius:1em;background:#888}\n",
    "#state[data-state=open]{background:#2a9d4b}#state[data-state=connecting]{background:#d89a1a}",
    "#state[data-state=closed]{background:#c0392b}\n",
    "main{padding:0 1em}table{border-collapse:collapse;width:100%;margin-top:.6em}\n",
    "th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #dde}\n",
    "tr.event{cursor:pointer}tr.event:hover{background:#eef}\n",
    "td.op{font-weight:600}tr[data-operation=insert] td.op{color:#2a9d4b}",
    "tr[data-operation=update] td.op,tr[data-operation=replace] td.op{color:#1f6fb2}",
    "tr[data-operation=delete] td.op{color:#c0392b}\n",
    "tr.gap td{color:#a05a00;font-style:italic}\n",
    "pre{margin:0;white-space:pre-wrap;word-break:break-all;font-size:12px}\n",
    "</style></head><body>\n",
    "<header><h1>changecast live</h1>\n",
    "<label>recipient <input id=\"recipient\" placeholder=\"(broadcasts only)\" size=\"14\"></label>\n",
    "<label>token <input id=\"token\" placeholder=\"JWT (if auth is on)\" size=\"18\"></label>\n",
    "<select id=\"token-mode\" title=\"how the token is sent\">",
    "<option value=\"protocol\">as subprotocol</option>",
    "<option value=\"query\">as ?token=</option></select>\n",
    "<button id=\"connect\">connect</button>\n",
    "<span id=\"state\" data-state=\"closed\">closed</span>\n",
    "<label>collection <input id=\"filter-collection\" placeholder=\"all\" size=\"12\"></label>\n",
    "<label>operation <select id=\"filter-operation\"><option value=\"\">all</option>",
    "<option>insert</option><option>update</option><option>replace</option>",
    "<option>delete</option><option>drop</option><option>rename</option>",
    "<option>dropDatabase</option><option>invalidate</option></select></label>\n",
    "<span><span id=\"count\">0</span> events</span>\n",
    "</header><main>\n",
    "<table><thead><tr><th>operation</th><th>collection</th><th>document_id</th>",
    "<th>time</th><th>recipient</th></tr></thead><tbody id=\"feed\"></tbody></table>\n",
    "</main>\n",
    "<script>\n",
    "(function(){'use strict';\n",
    "var $=function(id){return document.getElementById(id);};\n",
    "var tpl=document.querySelector('meta[name=ws-path]').getAttribute('content');\n",
    "var q=new URLSearchParams(location.search);\n",
    "$('recipient').value=q.get('recipient')||'';$('token').value=q.get('token')||'';\n",
    "if(q.get('token_mode'))$('token-mode').value=q.get('token_mode');\n",
    "if(q.get('collection'))$('filter-collection').value=q.get('collection');\n",
    "if(q.get('operation'))$('filter-operation').value=q.get('operation');\n",
    "var MAX=500,sock=null,lastId=q.get('last_event_id'),backoff=1000,timer=null,count=0,gen=0;\n",
    "function setState(s){var e=$('state');e.textContent=s;e.setAttribute('data-state',s);}\n",
    "function url(){var r=$('recipient').value.trim(),p;\n",
    " if(tpl.indexOf('{recipient}')<0)p=tpl;\n",
    " else if(r)p=tpl.replace('{recipient}',encodeURIComponent(r));\n",
    " else{p=tpl.slice(0,tpl.indexOf('{recipient}'));if(p.length>1&&p.charAt(p.length-1)==='/')",
    "p=p.slice(0,-1);}\n",
    " var qs=[],t=$('token').value.trim();\n",
    " if(t&&$('token-mode').value==='query')qs.push('token='+encodeURIComponent(t));\n",
    " if(lastId)qs.push('last_event_id='+encodeURIComponent(lastId));\n",
    " return (location.protocol==='https:'?'wss://':'ws://')+location.host+p+",
    "(qs.length?'?'+qs.join('&'):'');}\n",
    "function visible(tr){var c=$('filter-collection').value.trim(),o=$('filter-operation').value;\n",
    " return (!c||tr.getAttribute('data-collection')===c)&&(!o||tr.getAttribute('data-operation')===o);}\n",
    "function applyFilter(){var rows=$('feed').querySelectorAll('tr.event');\n",
    " for(var i=0;i<rows.length;i++){var v=visible(rows[i]);rows[i].hidden=!v;\n",
    "  var d=rows[i].nextSibling;if(d&&d.classList.contains('detail')&&!v)d.hidden=true;}}\n",
    "function cell(tr,text,cls){var td=document.createElement('td');td.textContent=text;",
    "if(cls)td.className=cls;tr.appendChild(td);}\n",
    "function add(ev,raw){var feed=$('feed'),tr=document.createElement('tr');\n",
    " if(ev.operation==='gap'){tr.className='gap';var td=document.createElement('td');td.colSpan=5;\n",
    "  td.textContent='gap: events after '+(ev.last_event_id||'?')+' are no longer kept; reload ",
    "for the current state';\n",
    "  tr.appendChild(td);feed.insertBefore(tr,feed.firstChild);return;}\n",
    " tr.className='event';tr.setAttribute('data-operation',ev.operation||'');\n",
    " tr.setAttribute('data-collection',ev.collection||'');tr.setAttribute('data-id',ev.id||'');\n",
    " cell(tr,ev.operation||'','op');cell(tr,ev.collection||'');",
    "cell(tr,ev.document_id==null?'':String(ev.document_id));\n",
    " cell(tr,ev.timestamp?new Date(ev.timestamp*1000).toISOString().replace('T',' ')",
    ".replace('Z',''):'');cell(tr,ev.recipient==null?'(all)':String(ev.recipient));\n",
    " tr.addEventListener('click',function(){var d=tr.nextSibling;\n",
    "  if(d&&d.classList&&d.classList.contains('detail')){d.hidden=!d.hidden;return;}\n",
    "  d=document.createElement('tr');d.className='detail';var td=document.createElement('td');",
    "td.colSpan=5;\n",
    "  var pre=document.createElement('pre');pre.textContent=JSON.stringify(ev,null,2);",
    "td.appendChild(pre);d.appendChild(td);\n",
    "  feed.insertBefore(d,tr.nextSibling);});\n",
    " tr.hidden=!visible(tr);feed.insertBefore(tr,feed.firstChild);\n",
    " $('count').textContent=String(++count);\n",
    " var rows=feed.querySelectorAll('tr.event');\n",
    " if(rows.length>MAX){var old=rows[rows.length-1],n=old.nextSibling;",
    "if(n&&n.classList&&n.classList.contains('detail'))feed.removeChild(n);feed.removeChild(old);}}\n",
    "function connect(){clearTimeout(timer);if(sock){sock.onclose=null;sock.close();sock=null;}\n",
    " var my=++gen,t=$('token').value.trim();setState('connecting');\n",
    " try{sock=(t&&$('token-mode').value==='protocol')?new WebSocket(url(),[t]):new WebSocket(url());}\n",
    " catch(e){setState('closed');retry(my);return;}\n",
    " sock.onopen=function(){if(my!==gen)return;setState('open');backoff=1000;};\n",
    " sock.onmessage=function(m){var ev;try{ev=JSON.parse(m.data);}catch(e){return;}\n",
    "  if(ev.id&&ev.operation!=='gap')lastId=ev.id;add(ev,m.data);};\n",
    " sock.onclose=function(){if(my!==gen)return;setState('closed');sock=null;retry(my);};}\n",
    "function retry(my){timer=setTimeout(function(){if(my===gen)connect();},backoff);\n",
    " backoff=Math.min(backoff*2,30000);}\n",
    "$('connect').addEventListener('click',function(){lastId=null;backoff=1000;connect();});\n",
    "$('filter-collection').addEventListener('input',applyFilter);\n",
    "$('filter-operation').addEventListener('change',applyFilter);\n",
    "connect();\n",
    "})();\n",
    "</script></body></html>\n",
    NULL
};

char *ws_viewer_build(const char *ws_path, size_t *len)
{
    /* The template goes into an HTML attribute: escape what could end it. */
    size_t total = 1;
    for (const char *s = ws_path; *s; s++)
        total += strchr("&\"<>", *s) ? 6 : 1;
    for (size_t i = 0; ws_viewer_parts[i]; i++)
        total += strlen(ws_viewer_parts[i]);
    char *out = malloc(total);
    if (out == NULL)
        return NULL;
    char *p = out;
    for (size_t i = 0; ws_viewer_parts[i]; i++) {
        const char *part = ws_viewer_parts[i];
        const char *mark = strstr(part, "@WS_PATH@");
        if (mark == NULL) {
            memcpy(p, part, strlen(part));
            p += strlen(part);
            continue;
        }
        memcpy(p, part, (size_t)(mark - part));
        p += mark - part;
        for (const char *s = ws_path; *s; s++) {
            const char *e = *s == '&' ? "&amp;" : *s == '"' ? "&quot;" : *s == '<' ? "&lt;"
                            : *s == '>' ? "&gt;" : NULL;
            if (e) {
                memcpy(p, e, strlen(e));
                p += strlen(e);
            } else {
                *p++ = *s;
            }
        }
        memcpy(p, mark + 9, strlen(mark + 9));
        p += strlen(mark + 9);
    }
    *p = '\0';
    *len = (size_t)(p - out);
    return out;
}
