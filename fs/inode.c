/* SPDX-License-Identifier: MIT */
/* The inode table: which FUSE node id stands for which block. */

/*
 * How node ids map to blocks
 * --------------------------
 * A block is identified by the device and inode number of its file in the
 * shm directory, not by its name: a block renamed outside the mount (by
 * Python, by the core library) keeps its node, and a name that is unlinked
 * and created again outside names a new file with a new inode number, so it
 * gets a new node and the kernel's cached entry for the old one is stale
 * (the watch invalidates it; a handler that meets it answers -ESTALE, which
 * makes the kernel look the name up again).  The inode number the mount
 * reports in st_ino is the block's real one, so `ls -i` and `stat` agree with
 * /dev/shm.
 *
 * The FUSE node id of a node is the address of its struct node (the root is
 * FUSE_ROOT_ID).  The kernel holds it for as long as it has references
 * (lookup counts: every entry reply adds one, FORGET subtracts); the node is
 * freed when they drop to zero.  An id can come back for a new node after
 * that, which FUSE allows; the generation number tells them apart.
 *
 * Each node remembers the name the mount last showed it under, and two hash
 * tables find nodes by identity and by name.  The name is a hint that can go
 * stale when something outside renames or unlinks the file; whoever uses it
 * to open the file checks the identity.
 *
 * A block that holds a ShareableList is shown as a directory (ops_list.c).
 * Its node is a LIST node, keyed like a block node by (dev, ino) but apart
 * from the block's file node: the kernel can't change an inode's type, so a
 * block that turns into a list (or back) must come back as a new node id.
 * Names are unique across both kinds.  The nodes inside a list directory
 * (its items, .raw, .format, .json) are children of the list node, keyed by
 * (list node, child key) in a third hash table; each holds one reference to
 * its list node.  They reach the block through the list node's name, so they
 * follow the list when the mount rebuilds it under the same name (an append
 * swaps in a new block file: inode_rekey moves the list node to it).
 *
 * A .npy block is an ARRAY node, apart from its block node in the same
 * way (its handlers differ, its type does not), and the view NAME.npy of a
 * declared array (ops_array.c) is an ARRAY_VIEW node keyed by its block's
 * device and array_view_ino(), the inode number with the top bit set, which
 * is also what it reports.
 *
 * Locking: one table lock protects the hash tables, every node's lookup count
 * and name.  A node's own lock protects its block handle and backing id.
 * Lock order: node lock, then table lock (opening a block reads the
 * node's name under its own lock).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "passthrough.h"
#include "shmblock.h"

struct hash {
	struct node **buckets;
	size_t nbuckets; /* a power of two */
};

struct inode_table {
	struct shmfs *fs;
	pthread_mutex_t lock;
	struct node root;
	struct hash by_ino;
	struct hash by_name;
	struct hash by_child;
	size_t count; /* block nodes */
	uint64_t next_generation;
};

static size_t ino_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;

	return (size_t)(h ^ (h >> 29));
}

static struct node **ino_slot(struct hash *h, dev_t dev, ino_t ino)
{
	return &h->buckets[ino_hash(dev, ino) & (h->nbuckets - 1)];
}

static size_t child_hash(const struct node *parent, uint64_t key)
{
	return ino_hash((dev_t)(uintptr_t)parent, (ino_t)key);
}

static struct node **child_slot(struct hash *h, const struct node *parent,
				uint64_t key)
{
	return &h->buckets[child_hash(parent, key) & (h->nbuckets - 1)];
}

static void child_remove(struct inode_table *t, struct node *n)
{
	struct node **p = child_slot(&t->by_child, n->parent, n->child_key);

	for (; *p; p = &(*p)->child_next) {
		if (*p == n) {
			*p = n->child_next;
			return;
		}
	}
}

static struct node **name_slot(struct hash *h, const char *name)
{
	return &h->buckets[shmfs_name_hash(name) & (h->nbuckets - 1)];
}

static void ino_insert(struct inode_table *t, struct node *n)
{
	struct node **slot = ino_slot(&t->by_ino, n->dev, n->ino);

	n->ino_next = *slot;
	*slot = n;
}

static void ino_remove(struct inode_table *t, struct node *n)
{
	struct node **p = ino_slot(&t->by_ino, n->dev, n->ino);

	for (; *p; p = &(*p)->ino_next) {
		if (*p == n) {
			*p = n->ino_next;
			return;
		}
	}
}

static struct node *name_lookup(struct inode_table *t, const char *name)
{
	struct node *n = *name_slot(&t->by_name, name);

	for (; n; n = n->name_next)
		if (!strcmp(n->name, name))
			return n;
	return NULL;
}

static void name_remove(struct inode_table *t, struct node *n)
{
	struct node **p;

	if (!n->name)
		return;
	for (p = name_slot(&t->by_name, n->name); *p; p = &(*p)->name_next) {
		if (*p == n) {
			*p = n->name_next;
			break;
		}
	}
	free(n->name);
	n->name = NULL;
}

/*
 * Gives `n` the name (taking ownership of `name`), which no other node may
 * keep: at most one file has a name at a time.
 */
static void name_set(struct inode_table *t, struct node *n, char *name)
{
	struct node *holder = name_lookup(t, name);
	struct node **slot;

	if (holder && holder != n && holder->kind == NODE_LIST) {
		/*
		 * A list replaced under its name (a rename outside, a
		 * rebuild): requests already on their way to the old node
		 * follow the name, as its children do (inode_list_name).
		 */
		free(holder->former_name);
		holder->former_name = strdup(name);
	}
	if (holder)
		name_remove(t, holder);
	name_remove(t, n);
	free(n->former_name);
	n->former_name = NULL;
	n->name = name;
	slot = name_slot(&t->by_name, name);
	n->name_next = *slot;
	*slot = n;
}

/* Doubles both hash tables when they get crowded; failure is harmless. */
static void maybe_grow(struct inode_table *t)
{
	struct node **ib, **nb, **cb, *n, *next;
	size_t i, old = t->by_ino.nbuckets, size = old * 2;

	if (t->count < old * 2)
		return;
	ib = calloc(size, sizeof(*ib));
	nb = calloc(size, sizeof(*nb));
	cb = calloc(size, sizeof(*cb));
	if (!ib || !nb || !cb) {
		free(ib);
		free(nb);
		free(cb);
		return;
	}
	for (i = 0; i < old; i++) {
		for (n = t->by_ino.buckets[i]; n; n = next) {
			next = n->ino_next;
			n->ino_next = ib[ino_hash(n->dev, n->ino) & (size - 1)];
			ib[ino_hash(n->dev, n->ino) & (size - 1)] = n;
		}
		for (n = t->by_name.buckets[i]; n; n = next) {
			next = n->name_next;
			n->name_next =
				nb[shmfs_name_hash(n->name) & (size - 1)];
			nb[shmfs_name_hash(n->name) & (size - 1)] = n;
		}
		for (n = t->by_child.buckets[i]; n; n = next) {
			size_t b = child_hash(n->parent, n->child_key) &
				   (size - 1);

			next = n->child_next;
			n->child_next = cb[b];
			cb[b] = n;
		}
	}
	free(t->by_ino.buckets);
	free(t->by_name.buckets);
	free(t->by_child.buckets);
	t->by_ino.buckets = ib;
	t->by_name.buckets = nb;
	t->by_child.buckets = cb;
	t->by_ino.nbuckets = t->by_name.nbuckets = size;
	t->by_child.nbuckets = size;
}

int inode_table_create(struct shmfs *fs, const struct stat *root_st,
		       struct inode_table **out)
{
	struct inode_table *t = calloc(1, sizeof(*t));
	size_t size = 1024;

	if (!t)
		return -ENOMEM;
	t->by_ino.buckets = calloc(size, sizeof(struct node *));
	t->by_name.buckets = calloc(size, sizeof(struct node *));
	t->by_child.buckets = calloc(size, sizeof(struct node *));
	if (!t->by_ino.buckets || !t->by_name.buckets || !t->by_child.buckets) {
		free(t->by_ino.buckets);
		free(t->by_name.buckets);
		free(t->by_child.buckets);
		free(t);
		return -ENOMEM;
	}
	t->by_ino.nbuckets = t->by_name.nbuckets = size;
	t->by_child.nbuckets = size;
	t->fs = fs;
	pthread_mutex_init(&t->lock, NULL);
	t->root.kind = NODE_ROOT;
	t->root.dev = root_st->st_dev;
	t->root.ino = root_st->st_ino;
	pthread_mutex_init(&t->root.lock, NULL);
	t->next_generation = 1;
	*out = t;
	return 0;
}

/* `close_backing` false: the connection is gone, and the ids with it. */
static void node_free(struct inode_table *t, struct node *n, bool close_backing)
{
	if (n->backing_id > 0 && close_backing)
		passthrough_backing_close(t->fs->pt, n->backing_id);
	shmblock_close(n->blk);
	pthread_mutex_destroy(&n->lock);
	free(n->name);
	free(n->former_name);
	free(n);
}

void inode_table_free(struct inode_table *t)
{
	struct node *n, *next;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->by_ino.nbuckets; i++) {
		for (n = t->by_ino.buckets[i]; n; n = next) {
			next = n->ino_next;
			node_free(t, n, false);
		}
		for (n = t->by_child.buckets[i]; n; n = next) {
			next = n->child_next;
			node_free(t, n, false);
		}
	}
	free(t->by_ino.buckets);
	free(t->by_name.buckets);
	free(t->by_child.buckets);
	pthread_mutex_destroy(&t->root.lock);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct node *inode_get(struct inode_table *t, fuse_ino_t id)
{
	if (id == FUSE_ROOT_ID)
		return &t->root;
	return (struct node *)(uintptr_t)id;
}

fuse_ino_t inode_id(const struct node *node)
{
	if (node->kind == NODE_ROOT)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)node;
}

static int ref_named(struct inode_table *t, const char *name,
		     const struct stat *st, enum node_kind kind,
		     struct node **out)
{
	struct node *n;
	char *copy = strdup(name);

	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	for (n = *ino_slot(&t->by_ino, st->st_dev, st->st_ino); n;
	     n = n->ino_next)
		if (n->dev == st->st_dev && n->ino == st->st_ino &&
		    n->kind == kind)
			break;
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&t->lock);
			free(copy);
			return -ENOMEM;
		}
		n->kind = kind;
		n->dev = st->st_dev;
		n->ino = st->st_ino;
		n->generation = t->next_generation++;
		pthread_mutex_init(&n->lock, NULL);
		ino_insert(t, n);
		t->count++;
		maybe_grow(t);
	}
	if (n->name && !strcmp(n->name, name))
		free(copy);
	else
		name_set(t, n, copy);
	n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	*out = n;
	return 0;
}

int inode_ref_block(struct inode_table *t, const char *name,
		    const struct stat *st, struct node **out)
{
	return ref_named(t, name, st, NODE_BLOCK, out);
}

int inode_ref_kind(struct inode_table *t, const char *name,
		   const struct stat *st, enum node_kind kind,
		   struct node **out)
{
	return ref_named(t, name, st, kind, out);
}

int inode_ref_list(struct inode_table *t, const char *name,
		   const struct stat *st, struct node **out)
{
	return ref_named(t, name, st, NODE_LIST, out);
}

int inode_ref_sem(struct inode_table *t, const char *name,
		  const struct stat *st, struct node **out)
{
	return ref_named(t, name, st, NODE_SEM, out);
}

int inode_ref_child(struct inode_table *t, struct node *parent,
		    enum node_kind kind, uint64_t key, const struct stat *st,
		    struct node **out)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	for (n = *child_slot(&t->by_child, parent, key); n; n = n->child_next)
		if (n->parent == parent && n->child_key == key &&
		    n->kind == kind)
			break;
	if (n && st && (n->dev != st->st_dev || n->ino != st->st_ino)) {
		/* Another block file now: the old node stays until forgotten. */
		child_remove(t, n);
		n->unhashed = true;
		n = NULL;
	}
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&t->lock);
			return -ENOMEM;
		}
		n->kind = kind;
		n->parent = parent;
		n->child_key = key;
		if (st) {
			n->dev = st->st_dev;
			n->ino = st->st_ino;
		}
		n->generation = t->next_generation++;
		pthread_mutex_init(&n->lock, NULL);
		/* The child keeps its list node (and so its name) alive. */
		parent->nlookup++;
		n->child_next = *child_slot(&t->by_child, parent, key);
		*child_slot(&t->by_child, parent, key) = n;
		t->count++;
		maybe_grow(t);
	}
	n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	*out = n;
	return 0;
}

void inode_rekey(struct inode_table *t, struct node *node,
		 const struct stat *st)
{
	pthread_mutex_lock(&t->lock);
	ino_remove(t, node);
	node->dev = st->st_dev;
	node->ino = st->st_ino;
	ino_insert(t, node);
	pthread_mutex_unlock(&t->lock);
}

void inode_forget(struct inode_table *t, struct node *node, uint64_t n)
{
	struct node *parent = NULL;
	bool gone;

	if (node->kind == NODE_ROOT)
		return;
	pthread_mutex_lock(&t->lock);
	if (node->nlookup < n) {
		/* The kernel never forgets more than it looked up. */
		abort();
	}
	node->nlookup -= n;
	gone = node->nlookup == 0;
	if (gone) {
		if (node->parent) {
			if (!node->unhashed)
				child_remove(t, node);
			parent = node->parent;
		} else {
			name_remove(t, node);
			ino_remove(t, node);
		}
		t->count--;
	}
	pthread_mutex_unlock(&t->lock);
	if (gone)
		node_free(t, node, true);
	if (parent)
		inode_forget(t, parent, 1);
}

int inode_name(struct inode_table *t, struct node *node, char out[NAME_MAX + 1])
{
	int rc = -ESTALE;

	pthread_mutex_lock(&t->lock);
	if (node->kind == NODE_LIST_RAW)
		node = node->parent;
	if (node->name) {
		strcpy(out, node->name);
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int inode_list_name(struct inode_table *t, struct node *node,
		    char out[NAME_MAX + 1])
{
	const char *name;
	int rc = -ESTALE;

	pthread_mutex_lock(&t->lock);
	name = node->name ? node->name : node->former_name;
	if (name) {
		strcpy(out, name);
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void inode_rename(struct inode_table *t, const char *from, const char *to,
		  bool exchange)
{
	struct node *src, *dst;
	char *to_copy = strdup(to);
	char *from_copy = exchange ? strdup(from) : NULL;

	pthread_mutex_lock(&t->lock);
	src = name_lookup(t, from);
	dst = name_lookup(t, to);
	if (dst)
		name_remove(t, dst);
	if (src)
		name_remove(t, src);
	/*
	 * Out of memory only loses a hint: the next lookup names the node
	 * again.
	 */
	if (src && to_copy) {
		name_set(t, src, to_copy);
		to_copy = NULL;
	}
	if (dst && exchange && from_copy) {
		name_set(t, dst, from_copy);
		from_copy = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	free(to_copy);
	free(from_copy);
}

void inode_unname(struct inode_table *t, const char *name)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = name_lookup(t, name);
	if (n)
		name_remove(t, n);
	pthread_mutex_unlock(&t->lock);
}

fuse_ino_t inode_find_name(struct inode_table *t, const char *name)
{
	struct node *n;
	fuse_ino_t id;

	pthread_mutex_lock(&t->lock);
	n = name_lookup(t, name);
	id = n ? inode_id(n) : 0;
	pthread_mutex_unlock(&t->lock);
	return id;
}

fuse_ino_t inode_find_ino(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct node *n;
	fuse_ino_t id = 0;

	pthread_mutex_lock(&t->lock);
	for (n = *ino_slot(&t->by_ino, dev, ino); n; n = n->ino_next) {
		if (n->dev == dev && n->ino == ino) {
			id = inode_id(n);
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return id;
}

bool inode_in_use(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct node *n;
	bool used = false;

	pthread_mutex_lock(&t->lock);
	for (n = *ino_slot(&t->by_ino, dev, ino); n && !used; n = n->ino_next)
		/* Written under the node's lock; a hint read is enough: a
		 * node in the table is not freed while we hold its lock. */
		used = n->dev == dev && n->ino == ino &&
		       __atomic_load_n(&n->nheld, __ATOMIC_RELAXED) > 0;
	pthread_mutex_unlock(&t->lock);
	return used;
}

bool inode_has_other_kind(struct inode_table *t, dev_t dev, ino_t ino,
			  enum node_kind kind)
{
	struct node *n;
	bool found = false;

	pthread_mutex_lock(&t->lock);
	for (n = *ino_slot(&t->by_ino, dev, ino); n; n = n->ino_next)
		if (n->dev == dev && n->ino == ino && n->kind != kind)
			found = true;
	pthread_mutex_unlock(&t->lock);
	return found;
}

struct snapshot_entry {
	fuse_ino_t id;
	char *name;
};

int inode_foreach(struct inode_table *t,
		  void (*fn)(void *arg, fuse_ino_t id, const char *name),
		  void *arg)
{
	struct snapshot_entry *snap;
	struct node *n;
	size_t i, count = 0;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	snap = calloc(t->count + 1, sizeof(*snap));
	if (!snap) {
		pthread_mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	for (i = 0; i < t->by_name.nbuckets && rc == 0; i++) {
		for (n = t->by_name.buckets[i]; n; n = n->name_next) {
			snap[count].name = strdup(n->name);
			if (!snap[count].name) {
				rc = -ENOMEM;
				break;
			}
			snap[count++].id = inode_id(n);
		}
	}
	pthread_mutex_unlock(&t->lock);
	for (i = 0; i < count; i++) {
		if (rc == 0)
			fn(arg, snap[i].id, snap[i].name);
		free(snap[i].name);
	}
	free(snap);
	return rc;
}
