/* fmt.c — see fmt.h. */
#include "fmt.h"

#include <math.h>
#include <stdio.h>

/* m in [1, 1000): as many decimals as keep three significant digits. */
static void three_digits(double m, const char *sign, const char *suffix, char *buf, size_t cap)
{
    if (m < 9.995) snprintf(buf, cap, "%s%.2f%s", sign, m, suffix);
    else if (m < 99.95) snprintf(buf, cap, "%s%.1f%s", sign, m, suffix);
    else snprintf(buf, cap, "%s%.0f%s", sign, m, suffix);
}

char *cf_fmt_num(double v, char *buf, size_t cap)
{
    if (isnan(v)) snprintf(buf, cap, "nan");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else if (v == 0) snprintf(buf, cap, "0");
    else {
        double a = fabs(v);
        const char *sign = v < 0 ? "-" : "";
        if (a < 0.01 || a >= 1e15) snprintf(buf, cap, "%.2e", v);
        else if (a >= 999.5) {
            /* pick the unit so that the mantissa, once rounded, stays below 1000 */
            static const char *const unit[] = {"k", "M", "G", "T"};
            int u = 0;
            double m = a / 1e3;
            while (u < 3 && m >= 999.5) m /= 1e3, u++;
            three_digits(m, sign, unit[u], buf, cap);
        } else snprintf(buf, cap, "%.3g", v);
    }
    return buf;
}

char *cf_fmt_bytes(double bytes, char *buf, size_t cap)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (!(bytes >= 0) || bytes < 1023.5) {
        snprintf(buf, cap, "%.0f B", bytes >= 0 ? bytes : 0);
        return buf;
    }
    int u = 0;
    double m = bytes / 1024;
    while (u < 4 && m >= 999.5) m /= 1024, u++;
    char suffix[8];
    snprintf(suffix, sizeof suffix, " %s", unit[u]);
    three_digits(m, "", suffix, buf, cap);
    return buf;
}

char *cf_fmt_duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "--");
        return buf;
    }
    long t = (long)(s + 0.5);
    if (t < 60) snprintf(buf, cap, "%lds", t);
    else if (t < 3600) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else if (t < 86400) snprintf(buf, cap, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else snprintf(buf, cap, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
    return buf;
}
