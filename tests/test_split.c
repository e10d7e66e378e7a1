/* test_split.c — mvae_data_split_make (mvae/split.h): a partition of 0..n-1 with the asked
 * sizes, each split ascending, the same for the same seed (pinned values: the split must not
 * change between mvae versions, or a data set's test samples would move into training), another
 * for another seed, and clear errors for sizes that leave nothing to train on. */
#include "mvae_test.h"
#include "mvae/interfaces.h"
#include "mvae/split.h"

static void check_partition(const mvae_data_split *sp, int64_t n) {
    uint8_t *seen = calloc((size_t)n, 1);
    assert_non_null(seen);
    int64_t total = 0;
    for (int s = 0; s < 3; s++) {
        for (int64_t i = 0; i < sp->n[s]; i++) {
            int64_t k = sp->idx[s][i];
            assert_true(k >= 0 && k < n);
            assert_int_equal(seen[k], 0); /* disjoint */
            seen[k] = 1;
            if (i) assert_true(sp->idx[s][i - 1] < k); /* ascending */
        }
        total += sp->n[s];
    }
    assert_int_equal(total, n); /* covering */
    free(seen);
}

static void test_split_sizes_and_partition(void **state) {
    (void)state;
    mvae_data_split sp;
    mvae_error err = {0};
    assert_int_equal(mvae_data_split_make(1000, 0.1, 0.05, 7, &sp, &err), MVAE_OK);
    assert_int_equal(sp.n[MVAE_SPLIT_TEST], 100);
    assert_int_equal(sp.n[MVAE_SPLIT_VALID], 50);
    assert_int_equal(sp.n[MVAE_SPLIT_TRAIN], 850);
    check_partition(&sp, 1000);
    mvae_data_split_free(&sp);
    assert_null(sp.idx[0]);
    /* a small fraction of a small set still gets one sample; 0 gets none */
    assert_int_equal(mvae_data_split_make(5, 0.01, 0.0, 1, &sp, &err), MVAE_OK);
    assert_int_equal(sp.n[MVAE_SPLIT_TEST], 1);
    assert_int_equal(sp.n[MVAE_SPLIT_VALID], 0);
    assert_null(sp.idx[MVAE_SPLIT_VALID]);
    assert_int_equal(sp.n[MVAE_SPLIT_TRAIN], 4);
    check_partition(&sp, 5);
    mvae_data_split_free(&sp);
    mvae_data_split_free(NULL);
}

static void test_split_deterministic(void **state) {
    (void)state;
    mvae_data_split a, b, c;
    mvae_error err = {0};
    assert_int_equal(mvae_data_split_make(200, 0.25, 0.0, 42, &a, &err), MVAE_OK);
    assert_int_equal(mvae_data_split_make(200, 0.25, 0.0, 42, &b, &err), MVAE_OK);
    assert_int_equal(mvae_data_split_make(200, 0.25, 0.0, 43, &c, &err), MVAE_OK);
    assert_memory_equal(a.idx[MVAE_SPLIT_TEST], b.idx[MVAE_SPLIT_TEST], 50 * sizeof(int64_t));
    assert_memory_equal(a.idx[MVAE_SPLIT_TRAIN], b.idx[MVAE_SPLIT_TRAIN], 150 * sizeof(int64_t));
    assert_true(memcmp(a.idx[MVAE_SPLIT_TEST], c.idx[MVAE_SPLIT_TEST], 50 * sizeof(int64_t)) != 0);
    mvae_data_split_free(&a);
    mvae_data_split_free(&b);
    mvae_data_split_free(&c);
    /* pinned: the test split of 10 samples, 30%, seed 1 */
    assert_int_equal(mvae_data_split_make(10, 0.3, 0.0, 1, &a, &err), MVAE_OK);
    assert_int_equal(a.n[MVAE_SPLIT_TEST], 3);
    const int64_t pinned[3] = {0, 3, 8};
    assert_memory_equal(a.idx[MVAE_SPLIT_TEST], pinned, sizeof pinned);
    mvae_data_split_free(&a);
}

static void test_split_errors(void **state) {
    (void)state;
    mvae_data_split sp;
    mvae_error e1 = {0}, e2 = {0}, e3 = {0};
    assert_int_equal(mvae_data_split_make(0, 0.1, 0, 1, &sp, &e1), MVAE_ERR_INVALID);
    assert_non_null(strstr(e1.msg, "0 samples"));
    assert_int_equal(mvae_data_split_make(100, 1.0, 0, 1, &sp, &e2), MVAE_ERR_INVALID);
    assert_non_null(strstr(e2.msg, "must each be in [0, 1)"));
    assert_int_equal(mvae_data_split_make(3, 0.5, 0.4, 1, &sp, &e3), MVAE_ERR_INVALID);
    assert_non_null(strstr(e3.msg, "leave no training sample"));
    assert_non_null(strstr(e3.msg, "lower the fractions"));
    assert_null(sp.idx[0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_sizes_and_partition),
        cmocka_unit_test(test_split_deterministic),
        cmocka_unit_test(test_split_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
