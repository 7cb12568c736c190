/* test_mocha.c — weights in Mocha's flat HDF5 layout ("<layer>___filter",
 * "<layer>___bias", Julia's reversed dimensions) load into a net by layer
 * name. */
#include <criterion/criterion.h>
#include <hdf5.h>

#include "testutil.h"
#include "weights.h"

static void put(hid_t f, const char *name, int rank, const hsize_t *dims, const float *v)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(d, 0);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(sp);
}

Test(mocha, flat_layout_weights_load_by_layer_name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/mocha.h5", tu_tmpdir());
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    float filt[18], cb[2] = {0.5f, -0.5f}, w[12], b[4] = {1, 2, 3, 4};
    for (int i = 0; i < 18; i++) filt[i] = (float)i / 10;
    for (int i = 0; i < 12; i++) w[i] = (float)-i;
    /* Julia sizes (3,3,1,2), (1,1,2,1), (3,4), (4,1) as C sees them */
    put(f, "conv___filter", 4, (hsize_t[]){2, 1, 3, 3}, filt);
    put(f, "conv___bias", 4, (hsize_t[]){1, 2, 1, 1}, cb);
    put(f, "ip___weight", 2, (hsize_t[]){4, 3}, w);
    put(f, "ip___bias", 2, (hsize_t[]){1, 4}, b);
    H5Fclose(f);

    cf_error err;
    char buf[1024];
    cf_net_opts o = {.phase = CF_TEST, .be = tu_backend(), .rng = tu_rng()};
    cf_net *net = cf_net_build(tu_yaml("input: [x, v]\ninput_shape: [{dim: [1, 1, 5, 5]}, {dim: [1, 3]}]\n"
                                       "layer:\n"
                                       "  - {name: conv, type: Convolution, bottom: x, top: c,\n"
                                       "     convolution_param: {num_output: 2, kernel_size: 3}}\n"
                                       "  - {name: ip, type: InnerProduct, bottom: v, top: y, inner_product_param: {num_output: 4}}\n"),
                               &o, &err);
    cr_assert_not_null(net, "%s", cf_error_str(&err, buf, sizeof buf));
    if (cf_net_load_weights(net, path, &err)) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    cf_layer *conv = net->layers[cf_net_layer_id(net, "conv")].layer, *ip = net->layers[cf_net_layer_id(net, "ip")].layer;
    for (int i = 0; i < 18; i++) cr_assert_float_eq(cf_blob_data(conv->param[0])[i], filt[i], 0);
    cr_assert_float_eq(cf_blob_data(conv->param[1])[1], -0.5f, 0);
    for (int i = 0; i < 12; i++) cr_assert_float_eq(cf_blob_data(ip->param[0])[i], w[i], 0);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(cf_blob_data(ip->param[1])[i], b[i], 0);
    cf_net_free(net);

    /* an unknown Mocha param name is refused by name */
    snprintf(path, sizeof path, "%s/mocha2.h5", tu_tmpdir());
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    put(f, "ip___gamma", 1, (hsize_t[]){4}, b);
    H5Fclose(f);
    net = cf_net_build(tu_yaml("input: [v]\ninput_shape: {dim: [1, 3]}\n"
                               "layer: [{name: ip, type: InnerProduct, bottom: v, top: y, inner_product_param: {num_output: 4}}]\n"),
                       &o, &err);
    cr_assert_eq(cf_net_load_weights(net, path, &err), -1);
    char want[1024];
    snprintf(want, sizeof want, "%s: Mocha param 'gamma' of layer 'ip': only filter, weight and bias are known", path);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf), want);
    cf_net_free(net);
}
