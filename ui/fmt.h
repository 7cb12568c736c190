/* fmt.h — short number formats for narrow columns: values that fit in
 * eight characters whatever their magnitude (1.23e-04, 0.0123, 12.3k),
 * byte counts (12.3 MiB) and durations (3m05s).  Pure functions: no
 * terminal needed, unit-tested. */
#ifndef CF_UI_FMT_H
#define CF_UI_FMT_H

#include <stddef.h>

/* Three significant digits, at most 8 characters (9 with a minus sign):
 *   0 → "0"; NaN → "nan"; ±inf → "inf"/"-inf";
 *   |v| < 0.01 or ≥ 1e15 → "1.23e-04";
 *   999.5 ≤ |v| < 1e15 → SI suffix k, M, G, T ("1.23k", "12.3k", "123M");
 *   else %.3g ("0.0123", "1.5", "123").  Returns buf. */
char *cf_fmt_num(double v, char *buf, size_t cap);
/* "512 B", "1.50 KiB", "12.3 MiB", "123 GiB". */
char *cf_fmt_bytes(double bytes, char *buf, size_t cap);
/* "42s", "3m05s", "2h07m", "3d04h"; negative or non-finite → "--". */
char *cf_fmt_duration(double seconds, char *buf, size_t cap);

#endif
