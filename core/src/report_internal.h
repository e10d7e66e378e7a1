/* report_internal.h — a growable text buffer and the escapes shared by the SVG plot writer
 * (plot_svg.c) and the HTML report (report_html.c). Not installed. */
#ifndef MVAE_REPORT_INTERNAL_H
#define MVAE_REPORT_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mvae_sbuf {
    char *s;
    size_t n, cap;
    bool oom; /* an allocation failed: the text is incomplete */
} mvae_sbuf;

void mvae_sb_printf(mvae_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mvae_sb_put(mvae_sbuf *b, const char *s, size_t n);
/* text with & < > " ' escaped for HTML/XML text and attribute values; NULL adds nothing */
void mvae_sb_esc(mvae_sbuf *b, const char *s);
/* bytes as base64 (RFC 4648, with padding) */
void mvae_sb_base64(mvae_sbuf *b, const uint8_t *data, size_t n);
/* the text (never NULL unless out of memory); the buffer is empty afterwards */
char *mvae_sb_take(mvae_sbuf *b);
void mvae_sb_free(mvae_sbuf *b);

#endif
