/*
 * binary-trees (the benchmarks game's program) in C on tricolor: an example
 * to copy from, and a benchmark. The same source builds against bdwgc
 * (-DUSE_BDWGC, link -lgc) and against malloc/free (-DUSE_MALLOC), so that
 * capi/bench/compare runs one program on three memory managers.
 *
 *   cc -O2 -I capi/include capi/examples/c/binary_trees.c \
 *      target/release/libtricolor_capi.a -lpthread -ldl -lm -o binary_trees
 *   ./binary_trees 16
 *
 * Prints the program's usual lines, then one line of figures: wall time,
 * peak RSS, and the longest collector pause (tricolor: stop-the-world pauses
 * from tricolor_heap_stats; bdwgc: the longest collection, which stops the
 * world; malloc: none).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#if defined(USE_BDWGC)
/* ---- bdwgc: GC_MALLOC, conservative, no roots to declare --------------- */
#include <gc.h>
#define BACKEND "bdwgc"
typedef struct node { struct node *left, *right; } node;
static double max_pause_ms, gc_started;
static double now_ms(void);
static void on_gc_event(GC_EventType e) {
    if (e == GC_EVENT_START) gc_started = now_ms();
    if (e == GC_EVENT_END && now_ms() - gc_started > max_pause_ms) max_pause_ms = now_ms() - gc_started;
}
static void setup(void) {
    GC_INIT();
    GC_set_on_collection_event(on_gc_event);
}
#define ALLOC_NODE() GC_MALLOC(sizeof(node))
static void release(node *n) { (void)n; }
static void finish(void) {}

#elif defined(USE_MALLOC)
/* ---- malloc/free: the program frees every tree itself ------------------ */
#define BACKEND "malloc"
typedef struct node { struct node *left, *right; } node;
static double max_pause_ms;
static void setup(void) {}
#define ALLOC_NODE() malloc(sizeof(node))
static void release(node *n) {
    if (n->left) {
        release(n->left);
        release(n->right);
    }
    free(n);
}
static void finish(void) {}

#else
/* ---- tricolor: a precise collector, so the program says where its roots are */
#include "tricolor.h"
#define BACKEND "tricolor"
typedef void node; /* an object of type Node: word 0 left, word 1 right */
static tricolor_heap *heap;
static tricolor_mutator *m; /* this thread's mutator */
static tricolor_type_id node_type;
static double max_pause_ms;

static void setup(void) {
    /* The TRICOLOR_* environment tunes the heap (TRICOLOR_BARRIER, TRICOLOR_GOGC, ...). */
    tricolor_status s = tricolor_heap_new_from_env(NULL, &heap);
    if (s != TRICOLOR_OK) {
        fprintf(stderr, "tricolor: %s\n", tricolor_last_error());
        exit(1);
    }
    uint32_t pointers[] = {0, 1};
    /* Header-free: a node takes its two pointers' 16 bytes, no header. */
    s = tricolor_register_fixed_header_free(heap, "Node", 2, pointers, 2, &node_type);
    assert(s == TRICOLOR_OK);
    s = tricolor_attach(heap, &m);
    assert(s == TRICOLOR_OK);
}

/* A new node with children `l` and `r`, which the caller has rooted. */
static node *make(node *l, node *r) {
    node *n = tricolor_new(m, node_type, 0); /* a GC point */
    if (n == NULL) {
        fprintf(stderr, "tricolor: %s\n", tricolor_last_error());
        exit(1);
    }
    tricolor_store(m, n, 0, l); /* through the write barrier */
    tricolor_store(m, n, 1, r);
    return n;
}

static node *bottom_up(int depth) {
    if (depth == 0) return make(NULL, NULL);
    /* `l` must survive the allocations that make `r`: root it on the
     * shadow stack, and pop this frame's slots before returning. */
    size_t frame = tricolor_root_count(m);
    tricolor_root_push(m, bottom_up(depth - 1));
    tricolor_root_push(m, bottom_up(depth - 1));
    node *n = make(tricolor_root_get(m, frame), tricolor_root_get(m, frame + 1));
    tricolor_root_truncate(m, frame);
    return n; /* unrooted: the caller roots it before its next GC point */
}

static long check(node *n) {
    node *l = tricolor_load(m, n, 0);
    return l ? 1 + check(l) + check(tricolor_load(m, n, 1)) : 1;
}

static void release(node *n) { (void)n; /* unreachable once unrooted */ }

static void finish(void) {
    tricolor_stats st;
    tricolor_heap_stats(heap, &st);
    max_pause_ms = st.pause_max_ns / 1e6;
    fprintf(stderr, "tricolor: %llu cycles, pauses %.3f ms total\n",
            (unsigned long long)st.cycles, st.pause_total_ns / 1e6);
    tricolor_detach(m);
    tricolor_heap_destroy(heap);
}

/* Roots a tree for the length of the iteration (the long-lived tree). */
#define KEEP(n) size_t keep_slot = tricolor_root_push(m, (n))
#define KEPT() tricolor_root_get(m, keep_slot)
#endif

#ifdef ALLOC_NODE
/* The program on bdwgc and on malloc: plain C structs. */
static node *make(node *l, node *r) {
    node *n = ALLOC_NODE();
    n->left = l;
    n->right = r;
    return n;
}
static node *bottom_up(int depth) {
    if (depth == 0) return make(NULL, NULL);
    node *l = bottom_up(depth - 1);
    node *r = bottom_up(depth - 1);
    return make(l, r);
}
static long check(node *n) { return n->left ? 1 + check(n->left) + check(n->right) : 1; }
#endif

#ifndef KEEP
#define KEEP(n) node *kept_ = (n)
#define KEPT() kept_
#endif

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 16;
    int max_depth = n < 6 ? 6 : n;
    double t0 = now_ms();
    setup();

    node *stretch = bottom_up(max_depth + 1);
    printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1, check(stretch));
    release(stretch);

    KEEP(bottom_up(max_depth));
    for (int d = 4; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + 4), sum = 0;
        for (long i = 0; i < iterations; i++) {
            node *t = bottom_up(d);
            sum += check(t);
            release(t);
        }
        printf("%ld\t trees of depth %d\t check: %ld\n", iterations, d, sum);
    }
    printf("long lived tree of depth %d\t check: %ld\n", max_depth, check(KEPT()));
    release(KEPT());
    finish();

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s: wall %.0f ms, peak RSS %ld MiB, max pause %.2f ms\n", BACKEND, now_ms() - t0,
           ru.ru_maxrss / 1024, max_pause_ms);
    return 0;
}
