/* SPDX-License-Identifier: Apache-2.0 */
#include "unit-helpers.h"

#include <dirent.h>
#include <sys/socket.h>

#include "shield/bundle.h"

struct fixture {
	char root[UNIT_ROOT_MAX]; /* a fresh 0700 temp dir */
	char dir[UNIT_DIR_MAX];	  /* root/b, the bundle (0700, opened) */
	int fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct shield_error err = {0};

	assert_non_null(f);
	unit_mkdtemp(f->root);
	snprintf(f->dir, sizeof(f->dir), "%s/b", f->root);
	f->fd = bundle_open(f->dir, true, &err);
	if (f->fd < 0)
		fail_msg("%s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	unit_rmtree(f->root);
	free(f);
	return 0;
}

/* Names in dir starting with '.' (temp files), excluding "." and "..". */
static int count_dotfiles(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_list_names(void **state)
{
	(void)state;
	assert_string_equal(bundle_list_filename(BUNDLE_PROFILE_DOMAINS), "profile.domains");
	assert_string_equal(bundle_list_filename(BUNDLE_LIVE_DOMAINS), "live.domains");
	assert_string_equal(bundle_list_filename(BUNDLE_DENIED_DOMAINS), "denied.domains");
	assert_string_equal(bundle_list_filename(BUNDLE_PROFILE_ALLOWED), "profile.allowed");
	assert_string_equal(bundle_list_filename(BUNDLE_LIVE_ALLOWED), "live.allowed");
	assert_string_equal(bundle_list_filename(BUNDLE_DENY_LIST), "deny.list");
	assert_true(bundle_list_is_domains(BUNDLE_PROFILE_DOMAINS));
	assert_true(bundle_list_is_domains(BUNDLE_LIVE_DOMAINS));
	assert_true(bundle_list_is_domains(BUNDLE_DENIED_DOMAINS));
	assert_false(bundle_list_is_domains(BUNDLE_PROFILE_ALLOWED));
	assert_false(bundle_list_is_domains(BUNDLE_LIVE_ALLOWED));
	assert_false(bundle_list_is_domains(BUNDLE_DENY_LIST));
}

static void test_open_create(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char path[PATH_MAX];
	struct stat st;
	int fd;

	/* The fixture's directory was created 0700 and its fd is a CLOEXEC directory. */
	assert_int_equal(lstat(f->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_true(fcntl(f->fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(f->fd, F_GETFL) & O_ACCMODE, O_RDONLY);

	/* Opening again (with or without create) works. */
	fd = bundle_open(f->dir, false, &err);
	assert_true(fd >= 0);
	close(fd);
	fd = bundle_open(f->dir, true, &err);
	assert_true(fd >= 0);
	close(fd);

	/* Missing without create. */
	snprintf(path, sizeof(path), "%s/missing", f->root);
	assert_int_equal(bundle_open(path, false, &err), -ENOENT);
	assert_msg_contains(&err, path);
	assert_int_equal(access(path, F_OK), -1);

	/* Parents are not created. */
	snprintf(path, sizeof(path), "%s/no/such", f->root);
	assert_int_equal(bundle_open(path, true, &err), -ENOENT);
	assert_msg_contains(&err, "cannot create");
	assert_msg_contains(&err, "parent directory missing");
}

static void test_open_refusals(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char path[PATH_MAX], link[UNIT_DIR_MAX];

	assert_int_equal(bundle_open("relative/dir", true, &err), -EINVAL);
	assert_string_equal(err.msg, "bundle directory \"relative/dir\": path must be absolute");
	assert_int_equal(bundle_open("", true, &err), -EINVAL);
	assert_int_equal(bundle_open(NULL, true, &err), -EINVAL);

	/* A symlink to a perfectly good bundle directory is still refused. */
	snprintf(link, sizeof(link), "%s/link", f->root);
	assert_int_equal(symlink(f->dir, link), 0);
	assert_int_equal(bundle_open(link, false, &err), -ELOOP);
	assert_msg_contains(&err, link);
	assert_msg_contains(&err, "is a symlink");
	assert_int_equal(bundle_open(link, true, &err), -ELOOP);

	/* Spellings that would resolve the symlink in the last position. */
	snprintf(path, sizeof(path), "%s/", link);
	assert_int_equal(bundle_open(path, false, &err), -EINVAL);
	assert_msg_contains(&err, "must not end in '/'");
	snprintf(path, sizeof(path), "%s/.", link);
	assert_int_equal(bundle_open(path, false, &err), -EINVAL);
	snprintf(path, sizeof(path), "%s/../b", link);
	assert_int_equal(bundle_open(path, false, &err), -EINVAL);
	snprintf(path, sizeof(path), "%s/./b", f->root);
	assert_int_equal(bundle_open(path, false, &err), -EINVAL);
	assert_int_equal(bundle_open("/", false, &err), -EINVAL);
	/* Doubled slashes inside are harmless. */
	snprintf(path, sizeof(path), "%s//b", f->root);
	{
		int fd = bundle_open(path, false, &err);

		assert_true(fd >= 0);
		close(fd);
	}

	/* A dangling symlink with create=true must not create its target. */
	snprintf(link, sizeof(link), "%s/dangling", f->root);
	snprintf(path, sizeof(path), "%s/target", f->root);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(bundle_open(link, true, &err), -ELOOP);
	assert_int_equal(access(path, F_OK), -1);

	/* A file. */
	snprintf(path, sizeof(path), "%s/file", f->root);
	unit_write_str(f->root, "file", "x");
	assert_int_equal(bundle_open(path, true, &err), -ENOTDIR);
	assert_msg_contains(&err, "not a directory");

	/* Group- or other-writable. */
	snprintf(path, sizeof(path), "%s/gw", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0770), 0);
	assert_int_equal(bundle_open(path, false, &err), -EPERM);
	assert_msg_contains(&err, path);
	assert_msg_contains(&err, "writable by group or others (mode 0770");
	assert_int_equal(chmod(path, 0703), 0);
	assert_int_equal(bundle_open(path, false, &err), -EPERM);
	/* Readable by others is not a problem for the checks. */
	assert_int_equal(chmod(path, 0755), 0);
	{
		int fd = bundle_open(path, false, &err);

		assert_true(fd >= 0);
		close(fd);
	}
}

static void test_open_foreign_owner(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char path[PATH_MAX];

	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "%s/foreign", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(bundle_open(path, false, &err), -EPERM);
	assert_msg_contains(&err, "owned by uid 65534, not by uid 0");
}

static void test_write_file_atomic(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	struct stat st;
	char *text;

	assert_int_equal(bundle_write_file(f->fd, "a.txt", "hello\n", 6, &err), 0);
	text = unit_read(f->dir, "a.txt");
	assert_string_equal(text, "hello\n");
	free(text);
	assert_int_equal(fstatat(f->fd, "a.txt", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_dotfiles(f->dir), 0);

	/* Replacing keeps no temp file and no old content. */
	assert_int_equal(bundle_write_file(f->fd, "a.txt", "bye", 3, &err), 0);
	text = unit_read(f->dir, "a.txt");
	assert_string_equal(text, "bye");
	free(text);
	assert_int_equal(bundle_write_file(f->fd, "empty", NULL, 0, &err), 0);
	text = unit_read(f->dir, "empty");
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(count_dotfiles(f->dir), 0);
}

/* The inode of name in the bundle (0 if it is missing). */
static ino_t inode_of(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_ino : 0;
}

static void test_write_file_keep_same(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	const unsigned keep = BUNDLE_WRITE_NOSYNC | BUNDLE_WRITE_KEEP_SAME;
	char target[PATH_MAX], slink[PATH_MAX], hard[PATH_MAX], path[PATH_MAX];
	ino_t ino;
	char *text;

	/* Missing: written. The same bytes again: the very file is kept. */
	assert_int_equal(bundle_write_file_mode(f->fd, "k", "same\n", 5, 0600, keep, &err), 0);
	ino = inode_of(f->fd, "k");
	assert_true(ino != 0);
	assert_int_equal(bundle_write_file_mode(f->fd, "k", "same\n", 5, 0600, keep, &err), 0);
	assert_true(inode_of(f->fd, "k") == ino);
	assert_int_equal(bundle_write_file_mode(f->fd, "e", NULL, 0, 0600, keep, &err), 0);
	ino = inode_of(f->fd, "e");
	assert_int_equal(bundle_write_file_mode(f->fd, "e", NULL, 0, 0600, keep, &err), 0);
	assert_true(inode_of(f->fd, "e") == ino);

	/* Other bytes, a longer or shorter text: replaced. */
	ino = inode_of(f->fd, "k");
	assert_int_equal(bundle_write_file_mode(f->fd, "k", "sane\n", 5, 0600, keep, &err), 0);
	assert_true(inode_of(f->fd, "k") != ino);
	text = unit_read(f->dir, "k");
	assert_string_equal(text, "sane\n");
	free(text);
	assert_int_equal(bundle_write_file_mode(f->fd, "k", "sane\nmore", 9, 0600, keep, &err), 0);
	assert_int_equal(bundle_write_file_mode(f->fd, "k", "sane", 4, 0600, keep, &err), 0);
	text = unit_read(f->dir, "k");
	assert_string_equal(text, "sane");
	free(text);

	/* The same bytes with another mode: replaced, with the mode asked for. */
	snprintf(path, sizeof(path), "%s/k", f->dir);
	assert_int_equal(chmod(path, 0644), 0);
	ino = inode_of(f->fd, "k");
	assert_int_equal(bundle_write_file_mode(f->fd, "k", "sane", 4, 0600, keep, &err), 0);
	assert_true(inode_of(f->fd, "k") != ino);

	/* A second link (someone else may hold the file): replaced. */
	snprintf(hard, sizeof(hard), "%s/k.link", f->root);
	assert_int_equal(link(path, hard), 0);
	ino = inode_of(f->fd, "k");
	assert_int_equal(bundle_write_file_mode(f->fd, "k", "sane", 4, 0600, keep, &err), 0);
	assert_true(inode_of(f->fd, "k") != ino);

	/* A symlink to a file holding these bytes: replaced by a file, the target untouched. */
	unit_write_str(f->root, "victim", "sane");
	snprintf(target, sizeof(target), "%s/victim", f->root);
	snprintf(slink, sizeof(slink), "%s/s", f->dir);
	assert_int_equal(symlink(target, slink), 0);
	assert_int_equal(bundle_write_file_mode(f->fd, "s", "sane", 4, 0600, keep, &err), 0);
	{
		struct stat st;

		assert_int_equal(lstat(slink, &st), 0);
		assert_true(S_ISREG(st.st_mode));
	}
	assert_int_equal(count_dotfiles(f->dir), 0);
}

static void test_write_file_replaces_symlink_not_target(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char target[PATH_MAX], link[PATH_MAX];
	struct stat st;
	char *text;

	unit_write_str(f->root, "victim", "precious");
	snprintf(target, sizeof(target), "%s/victim", f->root);
	snprintf(link, sizeof(link), "%s/dnsmasq.conf", f->dir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(bundle_write_file(f->fd, "dnsmasq.conf", "new", 3, &err), 0);
	text = unit_read(f->root, "victim");
	assert_string_equal(text, "precious");
	free(text);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

static void test_write_file_failure_leaves_no_temp(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char path[PATH_MAX];

	/* rename over a non-empty directory fails after the temp file was written. */
	snprintf(path, sizeof(path), "%s/occupied", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	unit_write_str(path, "x", "x");
	assert_true(bundle_write_file(f->fd, "occupied", "data", 4, &err) < 0);
	assert_msg_contains(&err, "occupied: rename failed");
	assert_int_equal(count_dotfiles(f->dir), 0);

	/* Bad names never touch the directory. */
	assert_int_equal(bundle_write_file(f->fd, "a/b", "x", 1, &err), -EINVAL);
	assert_int_equal(bundle_write_file(f->fd, "..", "x", 1, &err), -EINVAL);
	assert_int_equal(bundle_write_file(f->fd, ".", "x", 1, &err), -EINVAL);
	assert_int_equal(bundle_write_file(f->fd, "", "x", 1, &err), -EINVAL);
	assert_int_equal(bundle_write_file(f->fd, NULL, "x", 1, &err), -EINVAL);
	assert_int_equal(count_dotfiles(f->dir), 0);
}

static void test_read_file(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char *text = NULL, link[PATH_MAX], path[PATH_MAX];
	size_t len = 0;

	assert_int_equal(bundle_read_file(f->fd, "missing", 100, &text, &len, &err), -ENOENT);
	assert_msg_contains(&err, "missing");

	unit_write(f->dir, "bin", "a\0b", 3);
	assert_int_equal(bundle_read_file(f->fd, "bin", 3, &text, &len, &err), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(text, "a\0b", 4);
	free(text);
	text = NULL;
	assert_int_equal(bundle_read_file(f->fd, "bin", 2, &text, &len, &err), -EFBIG);
	assert_msg_contains(&err, "bin: larger than 2 bytes");
	assert_null(text);

	/* Symlinks are never followed, even to files inside the bundle. */
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(symlink("bin", link), 0);
	assert_int_equal(bundle_read_file(f->fd, "link", 100, &text, &len, &err), -ELOOP);
	assert_msg_contains(&err, "link: is a symlink");

	/* A FIFO is refused without blocking, a directory too. */
	snprintf(path, sizeof(path), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(bundle_read_file(f->fd, "fifo", 100, &text, &len, &err), -EINVAL);
	assert_msg_contains(&err, "not a regular file");
	snprintf(path, sizeof(path), "%s/sub", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(bundle_read_file(f->fd, "sub", 100, &text, &len, &err), -EINVAL);
}

static void test_read_list(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	_cleanup_strlist_ struct strlist l = STRLIST_INIT;

	/* Missing file: empty list (old contents replaced). */
	assert_int_equal(strlist_add(&l, "stale.example"), 0);
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_LIVE_DOMAINS, &l, &err), 0);
	assert_int_equal(l.n, 0);

	unit_write_str(f->dir, "profile.domains",
		       "# comment\n"
		       "\n"
		       "Example.COM\n"
		       "  github.com  # trailing comment\n"
		       "*.githubusercontent.com\r\n"
		       "example.com.\n"
		       "\t\n"
		       "pypi.org");
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_PROFILE_DOMAINS, &l, &err), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.items[0], "example.com");
	assert_string_equal(l.items[1], "github.com");
	assert_string_equal(l.items[2], "githubusercontent.com");
	assert_string_equal(l.items[3], "pypi.org");

	unit_write_str(f->dir, "deny.list",
		       "10.1.2.3/8\n2001:0db8::1\n10.0.0.0/8\n198.18.0.1/32\n");
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_DENY_LIST, &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0], "10.0.0.0/8");
	assert_string_equal(l.items[1], "2001:db8::1");
	assert_string_equal(l.items[2], "198.18.0.1");
}

static void test_read_list_errors(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	_cleanup_strlist_ struct strlist l = STRLIST_INIT;
	char *big;

	assert_int_equal(strlist_add(&l, "keep.example"), 0);

	unit_write_str(f->dir, "live.domains", "ok.example\n# fine\nbad/name.example\n");
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_LIVE_DOMAINS, &l, &err), -EINVAL);
	assert_string_equal(err.msg, "live.domains:3: invalid domain \"bad/name.example\": "
				     "character '/' not allowed");
	/* Untouched on failure. */
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0], "keep.example");

	/* A domain in an IP list is an error, and the other way round. */
	unit_write_str(f->dir, "live.allowed", "198.18.0.1\nexample.com\n");
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_LIVE_ALLOWED, &l, &err), -EINVAL);
	assert_msg_contains(&err, "live.allowed:2: invalid address");
	unit_write_str(f->dir, "denied.domains", "10.0.0.1\n");
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_DENIED_DOMAINS, &l, &err), -EINVAL);
	assert_msg_contains(&err, "denied.domains:1: invalid domain");

	/* A NUL byte inside an entry. */
	unit_write(f->dir, "denied.domains", "a.example\0.com\n", 15);
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_DENIED_DOMAINS, &l, &err), -EINVAL);
	assert_msg_contains(&err, "denied.domains:1:");
	assert_msg_contains(&err, "'\\0'");

	/* Over the size cap. */
	big = malloc(BUNDLE_FILE_MAX + 2);
	assert_non_null(big);
	memset(big, '#', BUNDLE_FILE_MAX + 1);
	unit_write(f->dir, "profile.domains", big, BUNDLE_FILE_MAX + 1);
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_PROFILE_DOMAINS, &l, &err), -EFBIG);
	assert_msg_contains(&err, "profile.domains: larger than 1048576 bytes");
	/* Exactly at the cap is fine. */
	unit_write(f->dir, "profile.domains", big, BUNDLE_FILE_MAX);
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_PROFILE_DOMAINS, &l, &err), 0);
	assert_int_equal(l.n, 0);

	/* Over the line cap (blank lines count too). */
	memset(big, '\n', BUNDLE_LINES_MAX + 1);
	unit_write(f->dir, "profile.domains", big, BUNDLE_LINES_MAX + 1);
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_PROFILE_DOMAINS, &l, &err), -E2BIG);
	assert_msg_contains(&err, "more than 65536 lines");
	unit_write(f->dir, "profile.domains", big, BUNDLE_LINES_MAX);
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_PROFILE_DOMAINS, &l, &err), 0);
	free(big);
}

static void test_write_list(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	_cleanup_strlist_ struct strlist l = STRLIST_INIT, back = STRLIST_INIT;
	char *text;

	assert_int_equal(strlist_add(&l, "github.com"), 0);
	assert_int_equal(strlist_add(&l, "pypi.org"), 0);
	assert_int_equal(bundle_write_list(f->fd, BUNDLE_LIVE_DOMAINS, &l, &err), 0);
	text = unit_read(f->dir, "live.domains");
	assert_string_equal(text, "github.com\npypi.org\n");
	free(text);
	assert_int_equal(bundle_read_list(f->fd, BUNDLE_LIVE_DOMAINS, &back, &err), 0);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.items[1], "pypi.org");

	/* An empty list is an empty file. */
	strlist_free(&back);
	assert_int_equal(bundle_write_list(f->fd, BUNDLE_DENY_LIST, &back, &err), 0);
	text = unit_read(f->dir, "deny.list");
	assert_string_equal(text, "");
	free(text);

	/* Entries that are not normalised, or could break the file, are refused. */
	assert_int_equal(strlist_add(&l, "Example.com"), 0);
	assert_int_equal(bundle_write_list(f->fd, BUNDLE_LIVE_DOMAINS, &l, &err), -EINVAL);
	assert_msg_contains(&err, "not normalised");
	strlist_free(&l);
	assert_int_equal(strlist_add(&l, "evil.com\nother.com"), 0);
	assert_int_equal(bundle_write_list(f->fd, BUNDLE_LIVE_DOMAINS, &l, &err), -EINVAL);
	assert_msg_contains(&err, "'\\n'");
	strlist_free(&l);
	assert_int_equal(strlist_add(&l, "10.1.2.3/8"), 0);
	assert_int_equal(bundle_write_list(f->fd, BUNDLE_LIVE_ALLOWED, &l, &err), -EINVAL);
	assert_msg_contains(&err, "not normalised (10.0.0.0/8)");
	text = unit_read(f->dir, "live.domains");
	assert_string_equal(text, "github.com\npypi.org\n");
	free(text);
	assert_int_equal(count_dotfiles(f->dir), 0);
}

static void test_effective(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	_cleanup_strlist_ struct strlist l = STRLIST_INIT;

	/* Nothing at all: empty. */
	assert_int_equal(bundle_effective_domains(f->fd, &l, NULL, &err), 0);
	assert_int_equal(l.n, 0);

	/* (profile ∪ live) − denied, profile order first, then live's new entries. */
	unit_write_str(f->dir, "profile.domains", "a.example\nb.example\nc.example\nb.example\n");
	unit_write_str(f->dir, "live.domains",
		       "d.example\nc.example\nB.example\ne.example\nf.example\n");
	unit_write_str(f->dir, "denied.domains", "b.example\ne.example\nzzz.example\n");
	assert_int_equal(bundle_effective_domains(f->fd, &l, NULL, &err), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.items[0], "a.example");
	assert_string_equal(l.items[1], "c.example");
	assert_string_equal(l.items[2], "d.example");
	assert_string_equal(l.items[3], "f.example");
	/* The denied list comes back as read when asked for, and the result is the same. */
	{
		struct strlist denied = STRLIST_INIT;

		assert_int_equal(bundle_effective_domains(f->fd, &l, &denied, &err), 0);
		assert_int_equal(l.n, 4);
		assert_int_equal(denied.n, 3);
		assert_string_equal(denied.items[0], "b.example");
		assert_string_equal(denied.items[2], "zzz.example");
		strlist_free(&denied);
	}

	/* Denial is exact: a subdomain of a denied name stays unless denied itself. */
	unit_write_str(f->dir, "denied.domains", "example.com\n");
	unit_write_str(f->dir, "profile.domains", "example.com\nsub.example.com\n");
	unit_write_str(f->dir, "live.domains", "");
	assert_int_equal(bundle_effective_domains(f->fd, &l, NULL, &err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0], "sub.example.com");

	/* IPs compare in canonical form. */
	unit_write_str(f->dir, "profile.allowed", "198.18.0.1\n10.1.2.3/8\n2001:0db8::1\n");
	unit_write_str(f->dir, "live.allowed", "198.18.0.2\n198.18.0.1/32\n");
	unit_write_str(f->dir, "deny.list", "10.0.0.0/8\n198.18.0.2\n");
	assert_int_equal(bundle_effective_ips(f->fd, &l, NULL, &err), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0], "198.18.0.1");
	assert_string_equal(l.items[1], "2001:db8::1");

	/* A bad file fails the whole computation with its location. */
	unit_write_str(f->dir, "deny.list", "10.0.0.0/8\n010.0.0.1\n");
	assert_int_equal(bundle_effective_ips(f->fd, &l, NULL, &err), -EINVAL);
	assert_msg_contains(&err, "deny.list:2: invalid address \"010.0.0.1\": leading zero");
	assert_int_equal(l.n, 2);
}

static struct addr_prefix A(const char *s) {
	struct addr_prefix a;

	assert_int_equal(addr_parse(s, strlen(s), &a, NULL), 0);
	return a;
}

static void
fill_config(struct bundle_config *c)
{
	struct shield_error err = {0};

	bundle_config_init(c);
	snprintf(c->name, sizeof(c->name), "my-box_1.test");
	c->upstream = A("2001:0db8::53");
	c->mode = SHIELD_MODE_DOWN_ALL;
	c->dns_policy = DNS_POLICY_OPEN;
	assert_int_equal(port_list_parse("8080:443", &c->loopback_ports, &err), 0);
	c->gateway_v4 = A("10.0.2.2");
	c->gateway_v6 = A("fd00::2");
	c->set_timeout = 5400;
	assert_int_equal(strlist_add(&c->profiles, "base"), 0);
	assert_int_equal(strlist_add(&c->profiles, "dev-python"), 0);
}

static void test_config_defaults(void **state)
{
	struct bundle_config c;

	(void)state;
	bundle_config_init(&c);
	assert_int_equal(c.version, 1);
	assert_int_equal(c.mode, SHIELD_MODE_UP);
	assert_int_equal(c.dns_policy, DNS_POLICY_STRICT);
	assert_int_equal(c.set_timeout, 1800);
	assert_int_equal(c.loopback_ports.n, 0);
	assert_int_equal(c.gateway_v4.family, 0);
	assert_int_equal(c.gateway_v6.family, 0);
	assert_int_equal(c.upstream.family, 0);
	assert_int_equal(c.profiles.n, 0);
	assert_string_equal(c.name, "");
	bundle_config_free(&c);
	bundle_config_free(&c);
	bundle_config_free(NULL);
}

static void test_config_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	struct bundle_config c, back;
	char *text;

	fill_config(&c);
	if (bundle_write_config(f->fd, &c, &err) != 0)
		fail_msg("%s", err.msg);
	text = unit_read(f->dir, "upstream.dns");
	assert_string_equal(text, "2001:db8::53\n");
	free(text);
	text = unit_read(f->dir, "dns.tier");
	assert_string_equal(text, "dnsmasq\n");
	free(text);
	text = unit_read(f->dir, "shield.conf");
	assert_non_null(strstr(text, "\nversion=1\n"));
	assert_non_null(strstr(text, "\nname=my-box_1.test\n"));
	assert_non_null(strstr(text, "\nmode=down_all\n"));
	assert_non_null(strstr(text, "\ndns_policy=open\n"));
	assert_non_null(strstr(text, "\nloopback_ports=8080:443\n"));
	assert_non_null(strstr(text, "\ngateway_v4=10.0.2.2\n"));
	assert_non_null(strstr(text, "\ngateway_v6=fd00::2\n"));
	assert_non_null(strstr(text, "\nset_timeout=1h30m\n"));
	assert_non_null(strstr(text, "\nprofiles=base:dev-python\n"));
	free(text);
	assert_int_equal(count_dotfiles(f->dir), 0);

	bundle_config_init(&back);
	if (bundle_read_config(f->fd, &back, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(back.version, 1);
	assert_string_equal(back.name, "my-box_1.test");
	assert_true(addr_equal(&back.upstream, &c.upstream));
	assert_int_equal(back.mode, SHIELD_MODE_DOWN_ALL);
	assert_int_equal(back.dns_policy, DNS_POLICY_OPEN);
	assert_int_equal(back.loopback_ports.n, 2);
	assert_int_equal(back.loopback_ports.ports[0], 8080);
	assert_int_equal(back.loopback_ports.ports[1], 443);
	assert_true(addr_equal(&back.gateway_v4, &c.gateway_v4));
	assert_true(addr_equal(&back.gateway_v6, &c.gateway_v6));
	assert_int_equal(back.set_timeout, 5400);
	assert_int_equal(back.profiles.n, 2);
	assert_string_equal(back.profiles.items[0], "base");
	assert_string_equal(back.profiles.items[1], "dev-python");

	/* Unset gateways, empty name and lists survive too. */
	bundle_config_free(&c);
	bundle_config_init(&c);
	c.upstream = A("198.18.0.53");
	assert_int_equal(bundle_write_config(f->fd, &c, &err), 0);
	assert_int_equal(bundle_read_config(f->fd, &back, &err), 0);
	assert_int_equal(back.gateway_v4.family, 0);
	assert_int_equal(back.gateway_v6.family, 0);
	assert_int_equal(back.profiles.n, 0);
	assert_int_equal(back.loopback_ports.n, 0);
	assert_string_equal(back.name, "");
	assert_int_equal(back.mode, SHIELD_MODE_UP);
	assert_int_equal(back.set_timeout, 1800);
	bundle_config_free(&c);
	bundle_config_free(&back);
}

static void test_config_write_refusals(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	struct bundle_config c;

	fill_config(&c);
	c.upstream = A("10.0.0.0/8");
	assert_int_equal(bundle_write_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "upstream");
	memset(&c.upstream, 0, sizeof(c.upstream));
	assert_int_equal(bundle_write_config(f->fd, &c, &err), -EINVAL);
	c.upstream = A("198.18.0.53");

	c.mode = SHIELD_MODE_INACTIVE;
	assert_int_equal(bundle_write_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "inactive");
	c.mode = SHIELD_MODE_UP;
	c.set_timeout = 0;
	assert_int_equal(bundle_write_config(f->fd, &c, &err), -ERANGE);
	c.set_timeout = 8 * 86400;
	assert_int_equal(bundle_write_config(f->fd, &c, &err), -ERANGE);
	c.set_timeout = 60;
	snprintf(c.name, sizeof(c.name), "bad\nname=x");
	assert_int_equal(bundle_write_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "invalid container name \"bad\\nname=x\"");
	c.name[0] = '\0';
	c.gateway_v4 = A("fd00::1");
	assert_int_equal(bundle_write_config(f->fd, &c, &err), -EINVAL);
	c.gateway_v4 = A("10.0.2.2");
	assert_int_equal(strlist_add(&c.profiles, "../etc"), 0);
	assert_int_equal(bundle_write_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "invalid profile name");
	/* Nothing was written by any of the refusals. */
	assert_int_equal(faccessat(f->fd, "shield.conf", F_OK, 0), -1);
	assert_int_equal(faccessat(f->fd, "upstream.dns", F_OK, 0), -1);
	bundle_config_free(&c);
}

static void test_config_read_errors(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	struct bundle_config c;

	bundle_config_init(&c);
	/* Missing upstream.dns. */
	unit_write_str(f->dir, "shield.conf", "version=1\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -ENOENT);
	assert_msg_contains(&err, "upstream.dns: missing");

	unit_write_str(f->dir, "upstream.dns", "not-an-ip\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "upstream.dns: invalid address");
	unit_write_str(f->dir, "upstream.dns", "10.0.0.0/8\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	unit_write_str(f->dir, "upstream.dns", "169.254.1.1\n");

	/* terok-shield bundle: no shield.conf, no dns.tier: defaults. */
	assert_int_equal(unlinkat(f->fd, "shield.conf", 0), 0);
	assert_int_equal(bundle_read_config(f->fd, &c, &err), 0);
	assert_int_equal(c.mode, SHIELD_MODE_UP);
	assert_int_equal(c.upstream.family, AF_INET);

	unit_write_str(f->dir, "dns.tier", "dig\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "dns.tier: DNS tier \"dig\" is not supported");
	unit_write_str(f->dir, "dns.tier", "dnsmasq\n");

	unit_write_str(f->dir, "shield.conf", "version=1\nmode=up\ncolour=blue\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_string_equal(err.msg, "shield.conf:3: unknown key \"colour\"");

	unit_write_str(f->dir, "shield.conf", "version=2\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EPROTONOSUPPORT);
	assert_msg_contains(&err, "shield.conf:1: version: unsupported bundle version \"2\"");

	unit_write_str(f->dir, "shield.conf", "# no version\nmode=up\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "no version line");

	unit_write_str(f->dir, "shield.conf", "version=1\nmode=sideways\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "shield.conf:2: mode: unknown mode \"sideways\"");

	unit_write_str(f->dir, "shield.conf", "version=1\nloopback_ports=80:0\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "shield.conf:2: loopback_ports: invalid port \"0\"");

	unit_write_str(f->dir, "shield.conf", "version=1\nset_timeout=0\n");
	assert_true(bundle_read_config(f->fd, &c, &err) < 0);
	assert_msg_contains(&err, "shield.conf:2: set_timeout:");

	unit_write_str(f->dir, "shield.conf", "version=1\ngateway_v4=fd00::1\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "shield.conf:2: gateway_v4: expected an IPv4 address");

	unit_write_str(f->dir, "shield.conf", "version=1\nprofiles=base:../x\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "shield.conf:2: profiles: invalid profile name \"../x\"");

	unit_write_str(f->dir, "shield.conf", "version=1\nmode=up\nmode=block\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "shield.conf:3: duplicate key \"mode\"");

	unit_write_str(f->dir, "shield.conf", "version=1\njunk\n");
	assert_int_equal(bundle_read_config(f->fd, &c, &err), -EINVAL);
	assert_msg_contains(&err, "shield.conf:2: expected key=value");

	/* After all those failures c still holds the last good read. */
	assert_int_equal(c.upstream.family, AF_INET);
	assert_int_equal(c.mode, SHIELD_MODE_UP);
	bundle_config_free(&c);
}

static void test_config_parse_pure(void **state)
{
	struct shield_error err = {0};
	struct bundle_config c;
	const char *text = "version=1\n# comment\n\nmode=block\nprofiles=a:b:a\n";
	char *out = NULL;

	(void)state;
	bundle_config_init(&c);
	c.set_timeout = 77;
	assert_int_equal(bundle_config_parse(text, strlen(text), &c, &err), 0);
	assert_int_equal(c.mode, SHIELD_MODE_BLOCK);
	assert_int_equal(c.set_timeout, 77); /* absent keys keep their value */
	assert_int_equal(c.profiles.n, 2);

	/* Failure leaves c as it was. */
	assert_int_equal(bundle_config_parse("version=1\nmode=up\nx=1\n", 22, &c, &err), -EINVAL);
	assert_int_equal(c.mode, SHIELD_MODE_BLOCK);
	assert_int_equal(c.profiles.n, 2);
	assert_int_equal(bundle_config_parse("version=1\0\n", 11, &c, &err), -EINVAL);
	assert_msg_contains(&err, "NUL");

	/* Format and parse agree. */
	assert_int_equal(bundle_config_format(&c, &out, &err), 0);
	{
		struct bundle_config back;
		char *again = NULL;

		bundle_config_init(&back);
		assert_int_equal(bundle_config_parse(out, strlen(out), &back, &err), 0);
		assert_int_equal(bundle_config_format(&back, &again, &err), 0);
		assert_string_equal(out, again);
		free(again);
		bundle_config_free(&back);
	}
	free(out);
	bundle_config_free(&c);
}

/* ------------------------------------------------------- bundle_check_location */

/* Expect a refusal with code whose message contains each needle (NULL-terminated). */
static void location_refused(const char *path, int code, ...)
{
	struct shield_error err = {0};
	const char *needle;
	va_list ap;
	int r = bundle_check_location(path, &err);

	if (r != code)
		fail_msg("bundle_check_location(%s) returned %d, not %d (%s)", path, r, code,
			 err.msg);
	assert_int_equal(err.code, code);
	assert_msg_printable(&err);
	va_start(ap, code);
	while ((needle = va_arg(ap, const char *)))
		assert_msg_contains(&err, needle);
	va_end(ap);
}

static void test_check_location_prefixes(void **state)
{
	static const char *const system[] = {"/etc",  "/proc", "/sys",	 "/dev",  "/usr", "/bin",
					     "/sbin", "/lib",  "/lib64", "/boot", "/root"};
	/* Names that share a system directory's first letters but are not under it. */
	static const char *const lookalikes[] = {"/etcetera",
						 "/etc-shield-test",
						 "/usrx",
						 "/lib6",
						 "/lib640",
						 "/rootless-shield-test",
						 "/devices-shield-test",
						 "/bootstrap-shield-test"};
	char path[64];

	(void)state;
	location_refused("relative/dir", -EINVAL, "\"relative/dir\"", "must be absolute", NULL);
	location_refused("etc", -EINVAL, "must be absolute", NULL);
	location_refused("", -EINVAL, "must be absolute", NULL);
	location_refused("./tmp", -EINVAL, "must be absolute", NULL);

	for (size_t i = 0; i < ARRAY_SIZE(system); i++) {
		char want[64];

		snprintf(want, sizeof(want), "under the system directory %s", system[i]);
		/* The directory itself, something under it (existing or not), a trailing '/'. */
		location_refused(system[i], -EPERM, want, NULL);
		snprintf(path, sizeof(path), "%s/shield-test/bundle", system[i]);
		location_refused(path, -EPERM, want, path, NULL);
		snprintf(path, sizeof(path), "%s/", system[i]);
		location_refused(path, -EPERM, want, NULL);
	}
	location_refused("/etc/x", -EPERM, "\"/etc/x\"", "system directory /etc", NULL);
	location_refused("/usr/lib/x", -EPERM, "\"/usr/lib/x\"", "system directory /usr", NULL);
	location_refused("/usr/local/lib/shield", -EPERM, "system directory /usr", NULL);

	/* Not a prefix match: /etcetera is not /etc. It does not exist, so realpath's error is
	 * what comes back, never -EPERM. */
	for (size_t i = 0; i < ARRAY_SIZE(lookalikes); i++) {
		struct shield_error err = {0};
		int want = access(lookalikes[i], F_OK) == 0 ? 0 : -ENOENT;

		assert_int_equal(bundle_check_location(lookalikes[i], &err), want);
		if (want < 0) {
			assert_msg_contains(&err, lookalikes[i]);
			assert_msg_contains(&err, "No such file or directory");
		}
	}

	/* Spellings that only resolve into a system directory. */
	location_refused("//etc", -EPERM, "\"//etc\"", "resolves to \"/etc\"",
			 "system directory /etc", NULL);
	location_refused("/./etc", -EPERM, "resolves to \"/etc\"", NULL);
	location_refused("/tmp/../etc", -EPERM, "\"/tmp/../etc\"", "resolves to \"/etc\"", NULL);
	location_refused("/tmp/..//usr/./lib", -EPERM, "resolves to \"/usr/lib\"",
			 "system directory /usr", NULL);
}

static void test_check_location_symlinks(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char link[UNIT_DIR_MAX], path[UNIT_DIR_MAX + 32], good[UNIT_DIR_MAX];

	/* The plain bundle directory is fine. */
	assert_int_equal(bundle_check_location(f->dir, &err), 0);
	assert_int_equal(bundle_check_location(f->root, &err), 0);

	/* A symlink in /tmp to /etc: refused after resolving, the message names both. */
	snprintf(link, sizeof(link), "%s/to-etc", f->root);
	assert_int_equal(symlink("/etc", link), 0);
	location_refused(link, -EPERM, link, "resolves to \"/etc\"", "system directory /etc", NULL);

	/* A symlink to something deeper in a system directory. */
	snprintf(link, sizeof(link), "%s/to-usr-lib", f->root);
	assert_int_equal(symlink("/usr/lib", link), 0);
	location_refused(link, -EPERM, link, "resolves to \"/usr/lib", "system directory /usr",
			 NULL);

	/* A symlinked parent: root/slash -> /, then root/slash/etc is /etc. */
	snprintf(link, sizeof(link), "%s/slash", f->root);
	assert_int_equal(symlink("/", link), 0);
	snprintf(path, sizeof(path), "%s/etc", link);
	location_refused(path, -EPERM, path, "resolves to \"/etc\"", NULL);
	snprintf(path, sizeof(path), "%s/boot", link);
	location_refused(path, -EPERM, "system directory /boot", NULL);

	/* A chain of relative symlinks ending in /proc. */
	snprintf(link, sizeof(link), "%s/hop2", f->root);
	assert_int_equal(symlink("/proc/self", link), 0);
	snprintf(link, sizeof(link), "%s/hop1", f->root);
	assert_int_equal(symlink("hop2", link), 0);
	location_refused(link, -EPERM, "system directory /proc", NULL);

	/* A symlink to an ordinary directory passes here (bundle_open refuses it later). */
	snprintf(link, sizeof(link), "%s/to-bundle", f->root);
	assert_int_equal(symlink(f->dir, link), 0);
	assert_int_equal(bundle_check_location(link, &err), 0);
	/* A directory named like a system one elsewhere is fine. */
	snprintf(good, sizeof(good), "%s/etc", f->root);
	assert_int_equal(mkdir(good, 0700), 0);
	assert_int_equal(bundle_check_location(good, &err), 0);

	/* Missing: realpath's error, naming the path. */
	snprintf(path, sizeof(path), "%s/missing", f->root);
	location_refused(path, -ENOENT, path, "No such file or directory", NULL);
	snprintf(path, sizeof(path), "%s/missing/deeper", f->root);
	location_refused(path, -ENOENT, path, NULL);
	/* Dangling symlink and a loop. */
	snprintf(link, sizeof(link), "%s/dangling", f->root);
	assert_int_equal(symlink("/nonexistent-shield-test/x", link), 0);
	location_refused(link, -ENOENT, link, NULL);
	snprintf(link, sizeof(link), "%s/loop", f->root);
	assert_int_equal(symlink("loop", link), 0);
	location_refused(link, -ELOOP, link, NULL);

	/* Hostile bytes in the path are quoted. */
	snprintf(path, sizeof(path), "%s/\x1b[2J\n\xff", f->root);
	location_refused(path, -ENOENT, "\\x1b[2J\\n\\xff\"", NULL);
	assert_int_equal(symlink("/etc", path), 0);
	location_refused(path, -EPERM, "\\x1b[2J\\n\\xff\"", "resolves to \"/etc\"", NULL);
	location_refused("/etc/\x1b]0;x\x07", -EPERM, "\"/etc/\\x1b]0;x\\x07\"", NULL);
	location_refused("rel\x1b", -EINVAL, "\"rel\\x1b\"", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_names),
		cmocka_unit_test_setup_teardown(test_open_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_foreign_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_file_keep_same, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_file_replaces_symlink_not_target, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_file_failure_leaves_no_temp, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_list_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_effective, setup, teardown),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test_setup_teardown(test_config_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_write_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_read_errors, setup, teardown),
		cmocka_unit_test(test_config_parse_pure),
		cmocka_unit_test(test_check_location_prefixes),
		cmocka_unit_test_setup_teardown(test_check_location_symlinks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
