/* The dashboard's static files under web_root: content types, precompressed
 * siblings (name.br, name.gz made at build time by web-static/compress.sh)
 * chosen by Accept-Encoding, validators (ETag, If-None-Match -> 304) and
 * caching (vendor/ and content-hashed names immutable, the rest revalidated). */
#ifndef DW_API_STATIC_H
#define DW_API_STATIC_H

#include "api.h"

/* Replies to GET/HEAD of path ("/" is /index.html); 404 for anything not a
 * plain file under web_root. */
int api_static_serve(api_req *r, const char *path);

/* Whether an Accept-Encoding header value admits coding (q > 0, explicitly
 * or through "*"); NULL admits nothing.  Exposed for the unit test. */
int api_static_accepts(const char *accept_encoding, const char *coding);

#endif
