/* SPDX-License-Identifier: MIT */
/* The inode table: which FUSE node id stands for which block. */
#ifndef SHMFS_INODE_H
#define SHMFS_INODE_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs.h"

struct shmblock;

/*
 * What a node is.  Handlers dispatch on it; every kind answers every
 * operation, with an errno where the operation makes no sense for it.
 */
enum node_kind {
	NODE_ROOT,	   /* the mount's top level: the shm directory */
	NODE_BLOCK,	   /* one block, shown as a regular file */
	NODE_LIST,	   /* a block that holds a ShareableList: a directory */
	NODE_LIST_ENTRY,   /* one item of a list: L/<i>[.<type>] */
	NODE_LIST_RAW,	   /* L/.raw: the list's block as a file (block ops) */
	NODE_LIST_META,	   /* L/.format, L/.json: text made from the list */
	NODE_DELETED_DIR,  /* .deleted/: blocks unlinked but held */
	NODE_DELETED_FILE, /* one of them (ops_deleted.c) */
	NODE_SEM,	   /* a named semaphore, sem.NAME (ops_sem.c) */
	NODE_ARRAY,	   /* a .npy block: a block file (ops_array.c) */
	NODE_ARRAY_VIEW,   /* NAME.npy, the view of a declared array: keyed
			    * by array_view_ino() of its block (ops_array.c) */
};

struct node {
	enum node_kind kind;
	dev_t dev;	     /* the block's identity: immutable, except */
	ino_t ino;	     /* a LIST node's (inode_rekey, table lock) */
	uint64_t generation; /* immutable */

	/* Protected by the table lock. */
	uint64_t nlookup;      /* the kernel's references */
	char *name;	       /* the name the mount shows, NULL if unknown */
	char *former_name;     /* a LIST node's name, taken by a newer list */
	struct node *ino_next; /* hash chains */
	struct node *name_next;
	struct node *child_next;

	/*
	 * Nodes inside a list directory (ENTRY, RAW, META): the list node,
	 * which each of them holds one reference to, and what the node is
	 * there (ops_list.c encodes index and type, or which file).
	 * Immutable.
	 */
	struct node *parent;
	uint64_t child_key;
	bool unhashed; /* replaced in the child hash (table lock) */

	/*
	 * Protected by `lock`, taken before the table lock when both are held.
	 * blk stays while nheld > 0, so a handler that holds it (ops_block.c:
	 * an open file, or one request) may use it unlocked.  No descriptor
	 * is kept for a node nobody has open.
	 */
	pthread_mutex_t lock;
	struct shmblock *blk; /* while held (nheld > 0), NOMAP */
	unsigned nheld;	      /* open files and requests using blk */
	bool read_only;	      /* blk could only be opened O_RDONLY */
	int backing_id;	      /* > 0 registered, 0 not yet, < 0 refused */
	uint64_t told_size;   /* items: the size last replied (ops_item.c) */
};

/* Creates the table with its root node, the shm directory `root_st`. */
int inode_table_create(struct shmfs *fs, const struct stat *root_st,
		       struct inode_table **out);
/* Frees every node, closing blocks and backing files. */
void inode_table_free(struct inode_table *t);

/* The node of a node id the kernel gave us. */
struct node *inode_get(struct inode_table *t, fuse_ino_t id);
fuse_ino_t inode_id(const struct node *node);

/*
 * Finds the block node of `st` (by device and inode number) or makes one,
 * records that the mount shows it as `name`, and adds one kernel reference.
 * Errors: -ENOMEM.
 */
int inode_ref_block(struct inode_table *t, const char *name,
		    const struct stat *st, struct node **out);

/*
 * As inode_ref_block, for a top-level node of kind `kind` (NODE_BLOCK,
 * NODE_LIST, NODE_ARRAY, NODE_ARRAY_VIEW), a node apart from the block's
 * nodes of other kinds.  Errors: -ENOMEM.
 */
int inode_ref_kind(struct inode_table *t, const char *name,
		   const struct stat *st, enum node_kind kind,
		   struct node **out);

/*
 * Finds the list node of `st` or makes one, named `name`, and adds a
 * reference.  A block's list node and file node are different nodes, so a
 * block that turns into a list (or back) gets a new node id: the kernel
 * can't change the type of an inode it knows.  Errors: -ENOMEM.
 */
int inode_ref_list(struct inode_table *t, const char *name,
		   const struct stat *st, struct node **out);

/*
 * Finds the semaphore node of `st` or makes one, as inode_ref_list: a file
 * that stops being a semaphore (or becomes one) gets a new node id, whose
 * handlers are a block's.  Errors: -ENOMEM.
 */
int inode_ref_sem(struct inode_table *t, const char *name,
		  const struct stat *st, struct node **out);

/*
 * Finds the node `key` of kind `kind` inside the list node `parent`, or
 * makes one, and adds a reference.  A RAW node also stands for one block
 * file: when `st` names another one, a new node is made (the old one lives
 * on, unfindable, until forgotten).  Other kinds pass st NULL.
 * Errors: -ENOMEM.
 */
int inode_ref_child(struct inode_table *t, struct node *parent,
		    enum node_kind kind, uint64_t key, const struct stat *st,
		    struct node **out);

/*
 * The mount replaced the list node's block by a rebuilt one under the same
 * name (an append): the node now stands for the block `st`.
 */
void inode_rekey(struct inode_table *t, struct node *node,
		 const struct stat *st);

/* Drops `n` kernel references; the node is freed at zero. */
void inode_forget(struct inode_table *t, struct node *node, uint64_t n);

/*
 * Copies the node's name (a RAW node's is its list's).  Returns 0 or
 * -ESTALE when it has none.
 */
int inode_name(struct inode_table *t, struct node *node,
	       char out[NAME_MAX + 1]);

/*
 * A list node's name, or the name it had until a lookup found a newer
 * block under it (a list replaced by a rename outside): a request already
 * on its way to the old node follows the name, as an open of the path a
 * moment later would.  Returns 0 or -ESTALE when it has neither.
 */
int inode_list_name(struct inode_table *t, struct node *node,
		    char out[NAME_MAX + 1]);

/* A rename through the mount: moves (or swaps) the names of the nodes. */
void inode_rename(struct inode_table *t, const char *from, const char *to,
		  bool exchange);
/* The name no longer exists: its node, if any, keeps no name. */
void inode_unname(struct inode_table *t, const char *name);

/* Node ids for the watch; 0 when no node matches.  Unlocked use is fine:
 * the kernel ignores ids it doesn't know. */
fuse_ino_t inode_find_name(struct inode_table *t, const char *name);
fuse_ino_t inode_find_ino(struct inode_table *t, dev_t dev, ino_t ino);

/*
 * Whether a node of the block (dev, ino) has the block open now: a file
 * open through the mount, or a request using it (docs/security.md: a
 * block open through the mount is held, whoever holds the file).
 */
bool inode_in_use(struct inode_table *t, dev_t dev, ino_t ino);

/*
 * Whether a node of the block (dev, ino) has a kind other than `kind`
 * (NODE_BLOCK or NODE_LIST): the kernel then shows the block with a type it
 * no longer has.
 */
bool inode_has_other_kind(struct inode_table *t, dev_t dev, ino_t ino,
			  enum node_kind kind);

/*
 * Calls `fn` for every named block node, outside the table lock, with a
 * snapshot taken under it.  Errors: -ENOMEM.
 */
int inode_foreach(struct inode_table *t,
		  void (*fn)(void *arg, fuse_ino_t id, const char *name),
		  void *arg);

#endif
