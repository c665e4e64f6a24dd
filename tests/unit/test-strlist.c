/* SPDX-License-Identifier: Apache-2.0 */
#include "unit-helpers.h"

#include "shield/macro.h"
#include "shield/strlist.h"
/* The internal set behind ordered de-duplication (not part of the public API). */
#include "../../shared/src/strset.h"

static void test_add_contains_remove(void **state)
{
	_cleanup_strlist_ struct strlist l = STRLIST_INIT;
	char buf[8] = "abc";

	(void)state;
	assert_int_equal(strlist_add(&l, buf), 0);
	/* The list holds a copy. */
	buf[0] = 'x';
	assert_string_equal(l.items[0], "abc");
	assert_int_equal(strlist_add(&l, "abc"), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(strlist_add_unique(&l, "abc"), 0);
	assert_int_equal(strlist_add_unique(&l, "def"), 1);
	assert_int_equal(l.n, 3);
	assert_true(strlist_contains(&l, "def"));
	assert_false(strlist_contains(&l, "de"));

	/* remove takes the first match and keeps the order of the rest. */
	assert_int_equal(strlist_remove(&l, "abc"), 1);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0], "abc");
	assert_string_equal(l.items[1], "def");
	assert_int_equal(strlist_remove(&l, "zzz"), 0);
	assert_int_equal(strlist_remove(&l, "abc"), 1);
	assert_int_equal(strlist_remove(&l, "def"), 1);
	assert_int_equal(l.n, 0);
	assert_false(strlist_contains(&l, "abc"));
}

static void test_join(void **state)
{
	struct strlist l = STRLIST_INIT;
	char *s;

	(void)state;
	s = strlist_join(&l, ":");
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(strlist_add(&l, "a"), 0);
	s = strlist_join(&l, ", ");
	assert_string_equal(s, "a");
	free(s);
	assert_int_equal(strlist_add(&l, "bb"), 0);
	assert_int_equal(strlist_add(&l, ""), 0);
	assert_int_equal(strlist_add(&l, "c"), 0);
	s = strlist_join(&l, ", ");
	assert_string_equal(s, "a, bb, , c");
	free(s);
	strlist_free(&l);
	/* Empty and reusable after free; free twice is fine. */
	assert_null(l.items);
	assert_int_equal(l.n, 0);
	strlist_free(&l);
	strlist_free(NULL);
	assert_int_equal(strlist_add(&l, "again"), 0);
	assert_int_equal(l.n, 1);
	strlist_free(&l);
}

static void test_growth(void **state)
{
	_cleanup_strlist_ struct strlist l = STRLIST_INIT;
	char buf[16];

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "item%d", i);
		assert_int_equal(strlist_add(&l, buf), 0);
	}
	assert_int_equal(l.n, 5000);
	assert_true(l.cap >= l.n);
	assert_string_equal(l.items[0], "item0");
	assert_string_equal(l.items[4999], "item4999");
}

static void test_strset(void **state)
{
	_cleanup_strset_ struct strset s = STRSET_INIT;
	static char keys[3000][16];

	(void)state;
	assert_false(strset_contains(&s, "a"));
	for (int i = 0; i < 3000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		assert_int_equal(strset_add(&s, keys[i]), 1);
	}
	for (int i = 0; i < 3000; i++) {
		char probe[16];

		snprintf(probe, sizeof(probe), "k%d", i);
		assert_true(strset_contains(&s, probe));
		assert_int_equal(strset_add(&s, probe), 0);
	}
	assert_int_equal(s.n, 3000);
	assert_false(strset_contains(&s, "k3000"));
}

static void test_merge_unique(void **state)
{
	_cleanup_strlist_ struct strlist dst = STRLIST_INIT, src = STRLIST_INIT,
					 skip = STRLIST_INIT;
	const char *want[] = {"a", "b", "c", "e"};

	(void)state;
	assert_int_equal(strlist_add(&dst, "a"), 0);
	assert_int_equal(strlist_add(&dst, "b"), 0);
	for (const char *const *p = (const char *const[]){"b", "c", "d", "c", "a", "e", NULL}; *p;
	     p++)
		assert_int_equal(strlist_add(&src, *p), 0);
	assert_int_equal(strlist_add(&skip, "d"), 0);
	assert_int_equal(strlist_merge_unique(&dst, &src, &skip), 0);
	assert_int_equal(dst.n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(dst.items[i], want[i]);
	/* Merging a list into itself changes nothing. */
	assert_int_equal(strlist_merge_unique(&dst, &dst, NULL), 0);
	assert_int_equal(dst.n, ARRAY_SIZE(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_contains_remove),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_strset),
		cmocka_unit_test(test_merge_unique),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
