/* names.c: every name template of the generated code, in one place.
 *
 * Values are named where the IR builds them, from these templates; plan.c
 * turns a node's name into its local's (dots become underscores, a clash
 * gets __2) and names vectors and temporaries.  What the names say:
 *
 *   hidden.z, hidden.a        a layer's pre-activation and activation
 *   d_hidden.z                the loss's gradient with respect to hidden.z
 *   new_hidden.weight         a parameter (or optimizer state) after the update
 *   next_hidden.z             NAME_train's carried pre-activation of the next batch
 *   hidden.z_2, hidden.weight_1_3   one element (of a vector or one sample's
 *                             row; of a matrix: row, column)
 *   loss.diff_z_0             loss.diff_0 computed from the pre-activation z
 *                             (simplify.c's ReLU-gradient rewrite)
 *   hidden_weight_col1        a vector: column 1 of the weight, all its rows in
 *                             the lanes; _rows4to7 when only some; hidden_z: all
 *                             of a small tensor; hidden_bias_4to7; x_row0
 *   tmp7                      a temporary, numbered in reading order per file
 *   ld_x_8                    a whole-vector load of x from element 8 on
 */
#include "netc.h"

const char *name_of(const char *layer, const char *what) { return intern(format("%s.%s", layer, what)); }
const char *name_adjoint(const char *of) { return intern(format("d_%s", of)); }
const char *name_updated(const char *of) { return intern(format("new_%s", of)); }
const char *name_next_z(const char *layer) { return intern(format("next_%s.z", layer)); }
const char *name_from_z(const char *base) { return intern(format("%s_z", base)); }
const char *name_temp(int n) { return intern(format("tmp%d", n)); }
const char *name_chunk(bool targets, int at) { return intern(format("ld_%s_%d", targets ? "t" : "x", at)); }

const char *name_element(const char *base, int row, int col) {
    return row < 0 ? intern(format("%s_%d", base, col)) : intern(format("%s_%d_%d", base, row, col));
}

const char *name_c_ident(const char *name) {
    char buf[256];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof buf; i++)
        buf[i] = name[i] == '.' ? '_' : name[i];
    buf[i] = 0;
    return intern(buf);
}

const char *name_vector(const char *base, bool down, int row, int col, int last, bool whole) {
    base = name_c_ident(base);
    if (down)
        return whole ? intern(format("%s_col%d", base, col))
                     : intern(format("%s_col%d_rows%dto%d", base, col, row, last));
    if (row < 0)
        return whole ? base : intern(format("%s_%dto%d", base, col, last));
    return whole ? intern(format("%s_row%d", base, row)) : intern(format("%s_row%d_cols%dto%d", base, row, col, last));
}
