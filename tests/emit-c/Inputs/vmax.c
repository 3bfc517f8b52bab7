/* NAME_vmax against the IR's max, a < b ? b : a, bit for bit on every lane,
 * for the pairs where x86's maxps could differ from it: NaNs in either
 * operand, zeros of either sign, infinities.  Built with the generated C
 * included whole (its macros): -DSRC="file.c" -DV=NAME_vW -DVMAX=NAME_vmax. */
#include SRC

#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    const float vals[] = {0.0f, -0.0f, 1.0f, -1.0f, NAN, -NAN, INFINITY, -INFINITY, 1e-40f};
    const int n = (int)(sizeof vals / sizeof vals[0]), lanes = (int)(sizeof(V) / sizeof(float));
    int bad = 0, checked = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            V a, b;
            for (int k = 0; k < lanes; k++) /* every pair in lane 0, rotated through the lanes */
                a[k] = vals[(i + k) % n], b[k] = vals[(j + k) % n];
            V r = VMAX(a, b);
            for (int k = 0; k < lanes; k++) {
                float want = a[k] < b[k] ? b[k] : a[k], got = r[k];
                checked++;
                if (memcmp(&want, &got, sizeof want)) {
                    bad++;
                    printf("max(%g, %g): %g, want %g\n", (double)a[k], (double)b[k], (double)got, (double)want);
                }
            }
        }
    printf("vmax: %d of %d lanes differ\n", bad, checked);
    return bad != 0;
}
