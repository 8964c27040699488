/*
 * The C API's test program: every function, several mutator threads
 * allocating while the collector marks (in every barrier mode), finalizers,
 * cleanups, weak references, ephemerons, and the error paths.
 * Plain C with its own CHECK; ends with "N passed, N failed".
 *
 * Built and run by capi/run-c (debug library: the checks of hot calls are on).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tricolor.h"

static int passed, failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            passed++;                                                                 \
        } else {                                                                      \
            failed++;                                                                 \
            const char *e_ = tricolor_last_error();                                   \
            fprintf(stderr, "FAILED %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, e_ ? e_ : "none");                                         \
        }                                                                             \
    } while (0)

#define OK(call) CHECK((call) == TRICOLOR_OK)

/* The last error contains `needle`. */
static int error_says(const char *needle) {
    const char *e = tricolor_last_error();
    return e != NULL && strstr(e, needle) != NULL;
}

static tricolor_heap *new_heap(uint32_t barrier) {
    tricolor_config cfg;
    tricolor_config_default(&cfg);
    cfg.barrier = barrier;
    tricolor_heap *h = NULL;
    OK(tricolor_heap_new(&cfg, &h));
    return h;
}

/* A cons cell: word 0 data, word 1 a pointer. */
static tricolor_type_id cons_type(tricolor_heap *h) {
    uint32_t ptrs[] = {1};
    tricolor_type_id t = 0;
    OK(tricolor_register_fixed(h, "Cons", 2, ptrs, 1, &t));
    return t;
}

static void test_config_and_heap(void) {
    tricolor_config cfg;
    OK(tricolor_config_default(&cfg));
    CHECK(cfg.barrier == TRICOLOR_BARRIER_HYBRID);
    CHECK(cfg.gogc == 100);
    CHECK(cfg.mark_assists && cfg.background_sweeper && !cfg.verify);
    cfg.barrier = TRICOLOR_BARRIER_SATB;
    cfg.gogc = 50;
    cfg.verify = true;
    tricolor_heap *h = NULL;
    OK(tricolor_heap_new(&cfg, &h));
    tricolor_config back;
    OK(tricolor_heap_config(h, &back));
    CHECK(back.barrier == TRICOLOR_BARRIER_SATB && back.gogc == 50 && back.verify);
    OK(tricolor_heap_destroy(h));

    OK(tricolor_heap_new(NULL, &h)); /* NULL: the default configuration */
    OK(tricolor_heap_destroy(h));
    OK(tricolor_heap_destroy(NULL)); /* a no-op */

    cfg.barrier = 42;
    h = NULL;
    CHECK(tricolor_heap_new(&cfg, &h) == TRICOLOR_ERR_BAD_ARGUMENT);
    CHECK(h == NULL && error_says("TRICOLOR_BARRIER_*"));
    CHECK(tricolor_config_default(NULL) == TRICOLOR_ERR_NULL);

    setenv("TRICOLOR_GOGC", "25", 1);
    setenv("TRICOLOR_BARRIER", "incremental", 1);
    OK(tricolor_heap_new_from_env(NULL, &h));
    OK(tricolor_heap_config(h, &back));
    CHECK(back.gogc == 25 && back.barrier == TRICOLOR_BARRIER_INCREMENTAL);
    OK(tricolor_heap_destroy(h));
    setenv("TRICOLOR_GCSTRESS", "often", 1);
    CHECK(tricolor_heap_new_from_env(NULL, &h) == TRICOLOR_ERR_BAD_ARGUMENT);
    CHECK(error_says("TRICOLOR_GCSTRESS"));
    unsetenv("TRICOLOR_GOGC");
    unsetenv("TRICOLOR_BARRIER");
    unsetenv("TRICOLOR_GCSTRESS");
}

static void test_types(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id cons = cons_type(h), vec = 0, str = 0, bad = 0;
    uint32_t elem_ptrs[] = {0};
    OK(tricolor_register_array(h, "Vector", 1, elem_ptrs, 1, &vec));
    OK(tricolor_register_bytes(h, "String", &str));
    CHECK(cons != 0 && vec != cons && str != vec);
    uint32_t out_of_range[] = {2};
    CHECK(tricolor_register_fixed(h, "Bad", 2, out_of_range, 1, &bad) ==
          TRICOLOR_ERR_BAD_DESCRIPTOR);
    CHECK(error_says("pointer word 2 is outside"));
    CHECK(tricolor_register_array(h, "Empty", 0, NULL, 0, &bad) == TRICOLOR_ERR_BAD_DESCRIPTOR);
    CHECK(tricolor_register_fixed(h, NULL, 1, NULL, 0, &bad) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_register_fixed(h, "X", 2, NULL, 1, &bad) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_register_bytes(NULL, "X", &bad) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_register_traced(h, "T", 7, 1, NULL, NULL, NULL, &bad) ==
          TRICOLOR_ERR_BAD_ARGUMENT);
    OK(tricolor_heap_destroy(h));
}

static void test_alloc_and_fields(void) {
    tricolor_config cfg;
    tricolor_config_default(&cfg);
    cfg.max_object_size = 1 << 20;
    tricolor_heap *h = NULL;
    OK(tricolor_heap_new(&cfg, &h));
    tricolor_type_id cons = cons_type(h), str = 0, vec = 0;
    uint32_t elem_ptrs[] = {0};
    OK(tricolor_register_bytes(h, "String", &str));
    OK(tricolor_register_array(h, "Vector", 1, elem_ptrs, 1, &vec));
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));

    void *a = NULL;
    OK(tricolor_alloc(m, cons, 0, &a));
    CHECK(a != NULL);
    size_t slot = tricolor_root_push(m, a);
    void *b = tricolor_new(m, cons, 0);
    CHECK(b != NULL);
    OK(tricolor_store_word(m, b, 0, 42));
    OK(tricolor_store(m, a, 1, b));
    CHECK(tricolor_load(m, a, 1) == b);
    CHECK(tricolor_load_word(m, b, 0) == 42);
    CHECK(tricolor_load(m, b, 1) == NULL); /* zeroed */

    void *s = tricolor_new(m, str, 5);
    size_t len = 0;
    uint8_t *bytes = tricolor_bytes(m, s, &len);
    CHECK(bytes != NULL && len == 5);
    memcpy(bytes, "hello", 5);
    OK(tricolor_store_word(m, b, 0, 7));
    tricolor_store(m, b, 1, NULL);
    CHECK(memcmp(tricolor_bytes(m, s, NULL), "hello", 5) == 0);
    tricolor_type_id ty = 0;
    OK(tricolor_shape_of(m, s, &ty, &len));
    CHECK(ty == str && len == 5);
    OK(tricolor_shape_of(m, a, &ty, &len));
    CHECK(ty == cons && len == 0);
    void *v = tricolor_new(m, vec, 3);
    OK(tricolor_store(m, v, 2, a));
    CHECK(tricolor_load(m, v, 2) == a);
    CHECK(tricolor_bytes(m, v, &len) == NULL && error_says("needs a byte array"));

    /* Allocation errors. */
    void *o = NULL;
    CHECK(tricolor_alloc(m, cons, 3, &o) == TRICOLOR_ERR_BAD_ARGUMENT);
    CHECK(error_says("length 3"));
    CHECK(tricolor_alloc(m, 0x7fff0001u, 0, &o) == TRICOLOR_ERR_BAD_TYPE);
    CHECK(tricolor_alloc(m, cons + 100, 0, &o) == TRICOLOR_ERR_BAD_TYPE);
    CHECK(error_says("not a registered type"));
    CHECK(tricolor_alloc(m, str, 2 << 20, &o) == TRICOLOR_ERR_OUT_OF_MEMORY);
    CHECK(tricolor_new(m, 12345, 0) == NULL && error_says("type id"));
    CHECK(tricolor_alloc(m, cons, 0, NULL) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_alloc(NULL, cons, 0, &o) == TRICOLOR_ERR_NULL);

    /* A type id of another heap. */
    tricolor_heap *h2 = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id other = cons_type(h2);
    CHECK(tricolor_alloc(m, other, 0, &o) == TRICOLOR_ERR_BAD_TYPE);
    CHECK(error_says("not registered with this mutator's heap"));
    OK(tricolor_heap_destroy(h2));

    CHECK(tricolor_root_get(m, slot) == a);
    OK(tricolor_root_truncate(m, 0));
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

static void test_roots_and_collect(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id cons = cons_type(h);
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    size_t base = tricolor_root_count(m);
    CHECK(base == 0);
    size_t list = tricolor_root_push(m, NULL);
    for (uint64_t i = 0; i < 1000; i++) {
        void *c = tricolor_new(m, cons, 0);
        tricolor_store_word(m, c, 0, i);
        tricolor_store(m, c, 1, tricolor_root_get(m, list));
        OK(tricolor_root_set(m, list, c));
        tricolor_new(m, cons, 0); /* garbage */
    }
    CHECK(tricolor_root_count(m) == 1);
    OK(tricolor_collect(m));
    tricolor_stats st;
    OK(tricolor_heap_stats(h, &st));
    CHECK(st.cycles >= 1);
    CHECK(st.last_objects_marked == 1000);
    CHECK(st.marked_bytes > 0 && st.goal_bytes > 0 && st.in_use_bytes > 0);
    uint64_t bytes = 0, objects = 0;
    OK(tricolor_live(m, &bytes, &objects));
    CHECK(objects == 1000 && bytes >= 1000 * 24);
    /* The list is intact, newest first. */
    void *c = tricolor_root_get(m, list);
    uint64_t expect = 999, n = 0;
    while (c) {
        if (tricolor_load_word(m, c, 0) != expect) break;
        expect--;
        n++;
        c = tricolor_load(m, c, 1);
    }
    CHECK(n == 1000);
    OK(tricolor_root_truncate(m, base));
    OK(tricolor_collect(m));
    OK(tricolor_live(m, NULL, &objects));
    CHECK(objects == 0);
    OK(tricolor_heap_stats(h, &st));
    CHECK(st.last_objects_marked == 0 && st.freed_objects_total >= 2000);
    CHECK(st.pause_max_ns > 0 && st.pause_total_ns >= st.pause_max_ns);
    CHECK(st.pause_p99_ns >= st.pause_max_ns / 2);
    CHECK(tricolor_root_get(m, 5) == NULL && error_says("index out of bounds"));
    OK(tricolor_set_gctrace(h, true));
    OK(tricolor_collect(m)); /* prints one gctrace line */
    OK(tricolor_set_gctrace(h, false));
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

static void test_globals(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id cons = cons_type(h);
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    void *a = tricolor_new(m, cons, 0);
    tricolor_global *g = tricolor_global_add(h, a);
    CHECK(g != NULL && tricolor_global_get(g) == a);
    OK(tricolor_collect(m));
    tricolor_stats st;
    tricolor_heap_stats(h, &st);
    CHECK(st.last_objects_marked == 1);
    void *b = tricolor_new(m, cons, 0);
    OK(tricolor_global_set(g, b));
    CHECK(tricolor_global_get(g) == b);
    OK(tricolor_collect(m));
    tricolor_heap_stats(h, &st);
    CHECK(st.last_objects_marked == 1);
    OK(tricolor_global_remove(g));
    OK(tricolor_global_remove(NULL));
    OK(tricolor_collect(m));
    tricolor_heap_stats(h, &st);
    CHECK(st.last_objects_marked == 0);
    CHECK(tricolor_global_add(NULL, NULL) == NULL && error_says("heap is NULL"));
    CHECK(tricolor_global_get(NULL) == NULL);
    CHECK(tricolor_global_set(NULL, NULL) == TRICOLOR_ERR_NULL);
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

/* A VM stack the root scanner reports. */
struct vm_stack {
    void *slots[16];
    int top;
    int scans;
};

static void scan_stack(tricolor_visitor *v, void *ctx) {
    struct vm_stack *s = ctx;
    s->scans++;
    for (int i = 0; i < s->top; i++) tricolor_visit(v, s->slots[i]);
}

static void test_root_scanner(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id cons = cons_type(h);
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    struct vm_stack stack = {{0}, 0, 0};
    OK(tricolor_set_root_scanner(m, scan_stack, &stack));
    for (int i = 0; i < 10; i++) stack.slots[stack.top++] = tricolor_new(m, cons, 0);
    stack.slots[stack.top++] = NULL; /* ignored */
    OK(tricolor_collect(m));
    tricolor_stats st;
    tricolor_heap_stats(h, &st);
    CHECK(st.last_objects_marked == 10);
    CHECK(stack.scans >= 1);
    OK(tricolor_set_root_scanner(m, NULL, NULL));
    OK(tricolor_collect(m));
    tricolor_heap_stats(h, &st);
    CHECK(st.last_objects_marked == 0);
    tricolor_visit(NULL, NULL); /* a no-op */
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

static void *collect_heap(void *arg) {
    tricolor_heap *h = arg;
    return (void *)(intptr_t)tricolor_heap_collect(h);
}

static void test_native_and_safepoint(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id cons = cons_type(h);
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    void *keep = tricolor_new(m, cons, 0);
    tricolor_root_push(m, keep);

    /* Another thread collects while this one polls safepoints. */
    pthread_t t;
    pthread_create(&t, NULL, collect_heap, h);
    tricolor_stats st;
    tricolor_status polled = TRICOLOR_OK;
    do {
        if (tricolor_safepoint(m) != TRICOLOR_OK) polled = TRICOLOR_ERR_MISUSE;
        tricolor_heap_stats(h, &st);
    } while (st.cycles == 0);
    OK(polled);
    /* Joining is blocking: in native state, so a collection need not wait. */
    OK(tricolor_enter_native(m));
    CHECK(tricolor_is_native(m));
    void *rc;
    pthread_join(t, &rc);
    CHECK((intptr_t)rc == TRICOLOR_OK);
    /* A thread whose mutator is native may collect through the heap. */
    OK(tricolor_heap_collect(h));
    OK(tricolor_heap_wait_for_finalizers(h));
    /* Touching the heap in native state is refused. */
    void *o = NULL;
    CHECK(tricolor_alloc(m, cons, 0, &o) == TRICOLOR_ERR_MISUSE);
    CHECK(error_says("native"));
    CHECK(tricolor_enter_native(m) == TRICOLOR_ERR_MISUSE);
    OK(tricolor_leave_native(m));
    CHECK(!tricolor_is_native(m));
    CHECK(tricolor_leave_native(m) == TRICOLOR_ERR_MISUSE);
    /* A running mutator's thread must not collect through the heap. */
    CHECK(tricolor_heap_collect(h) == TRICOLOR_ERR_MISUSE);
    CHECK(error_says("tricolor_collect") || error_says("Mutator::collect"));
    CHECK(tricolor_root_get(m, 0) == keep);
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

static int finalized, cleaned, finalizer_allocated;
static void *finalized_obj;
static tricolor_type_id fin_cons;

static void on_finalize(tricolor_mutator *m, void *obj, void *ctx) {
    (void)ctx;
    finalized++;
    finalized_obj = obj;
    /* The finalizer thread's mutator works like any other. */
    void *fresh = tricolor_new(m, fin_cons, 0);
    if (fresh && tricolor_load(m, obj, 1) != NULL) finalizer_allocated++;
    /* ...but it is lent: it cannot detach. */
    if (tricolor_detach(m) != TRICOLOR_ERR_STATE) finalizer_allocated = -1000;
}

static void on_cleanup(tricolor_mutator *m, void *arg, void *ctx) {
    (void)m;
    cleaned += *(int *)ctx;
    if (arg != NULL) cleaned += 100;
}

static void test_finalizers_and_cleanups(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id cons = cons_type(h);
    fin_cons = cons;
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));

    void *a = tricolor_new(m, cons, 0);
    size_t slot = tricolor_root_push(m, a);
    void *child = tricolor_new(m, cons, 0);
    tricolor_store(m, a, 1, child);
    OK(tricolor_set_finalizer(m, a, on_finalize, NULL));
    CHECK(tricolor_set_finalizer(m, a, on_finalize, NULL) == TRICOLOR_ERR_STATE);
    CHECK(tricolor_set_finalizer(m, a, NULL, NULL) == TRICOLOR_ERR_NULL);
    void *b = tricolor_new(m, cons, 0);
    tricolor_root_push(m, b);
    bool had = false;
    OK(tricolor_set_finalizer(m, b, on_finalize, NULL));
    OK(tricolor_clear_finalizer(m, b, &had));
    CHECK(had);
    OK(tricolor_clear_finalizer(m, b, &had));
    CHECK(!had);

    /* Cleanups: one with an argument, one cancelled. */
    static int one = 1;
    void *arg = tricolor_new(m, cons, 0);
    tricolor_cleanup *c1 = NULL, *c2 = NULL;
    OK(tricolor_add_cleanup(m, b, arg, on_cleanup, &one, &c1));
    OK(tricolor_add_cleanup(m, b, NULL, on_cleanup, &one, &c2));
    CHECK(tricolor_add_cleanup(m, b, b, on_cleanup, &one, NULL) == TRICOLOR_ERR_BAD_OBJECT);
    bool cancelled = false;
    OK(tricolor_cleanup_cancel(c2, &cancelled));
    CHECK(cancelled);
    OK(tricolor_cleanup_cancel(c2, &cancelled));
    CHECK(!cancelled);

    /* Drop both; collect; the finalizer and one cleanup run. */
    OK(tricolor_root_truncate(m, slot));
    OK(tricolor_collect(m));
    OK(tricolor_wait_for_finalizers(m));
    CHECK(finalized == 1 && finalized_obj == a);
    CHECK(finalizer_allocated == 1);
    OK(tricolor_collect(m));
    OK(tricolor_wait_for_finalizers(m));
    CHECK(cleaned == 101);
    tricolor_stats st;
    tricolor_heap_stats(h, &st);
    CHECK(st.finalizers_run == 1 && st.cleanups_run == 1);
    OK(tricolor_cleanup_free(c1));
    OK(tricolor_cleanup_free(c2));
    OK(tricolor_cleanup_free(NULL));

    /* Not objects of this heap. */
    int on_stack;
    CHECK(tricolor_set_finalizer(m, &on_stack, on_finalize, NULL) == TRICOLOR_ERR_BAD_OBJECT);
    CHECK(error_says("not") && error_says("heap"));
    void *inner = tricolor_new(m, cons, 0);
    CHECK(tricolor_set_finalizer(m, (char *)inner + 8, on_finalize, NULL) ==
          TRICOLOR_ERR_BAD_OBJECT);
    CHECK(error_says("interior"));
    CHECK(tricolor_set_finalizer(m, NULL, on_finalize, NULL) == TRICOLOR_ERR_NULL);
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

static void test_weak_and_ephemerons(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_SATB);
    tricolor_type_id cons = cons_type(h);
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    void *a = tricolor_new(m, cons, 0);
    size_t slot = tricolor_root_push(m, a);
    tricolor_weak *w = NULL;
    OK(tricolor_weak_new(m, a, &w));
    OK(tricolor_collect(m));
    CHECK(tricolor_weak_get(m, w) == a);
    OK(tricolor_root_set(m, slot, NULL));
    OK(tricolor_collect(m));
    CHECK(tricolor_weak_get(m, w) == NULL);
    OK(tricolor_weak_free(w));
    OK(tricolor_weak_free(NULL));
    CHECK(tricolor_weak_new(m, NULL, &w) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_weak_get(m, NULL) == NULL && error_says("tricolor_weak"));

    tricolor_ephemerons *t = tricolor_ephemerons_new(h);
    CHECK(t != NULL);
    void *k1 = tricolor_new(m, cons, 0);
    tricolor_root_set(m, slot, k1);
    void *v1 = tricolor_new(m, cons, 0);
    void *old = (void *)1;
    OK(tricolor_ephemerons_insert(m, t, k1, v1, &old));
    CHECK(old == NULL);
    void *k2 = tricolor_new(m, cons, 0); /* dies */
    void *v2 = tricolor_new(m, cons, 0);
    tricolor_store(m, v2, 1, k2); /* a value that refers to its own key */
    OK(tricolor_ephemerons_insert(m, t, k2, v2, NULL));
    CHECK(tricolor_ephemerons_len(t) == 2);
    OK(tricolor_collect(m));
    CHECK(tricolor_ephemerons_len(t) == 1);
    CHECK(tricolor_ephemerons_get(m, t, k1) == v1);
    CHECK(tricolor_ephemerons_remove(m, t, k1) == v1);
    CHECK(tricolor_ephemerons_get(m, t, k1) == NULL);
    CHECK(tricolor_ephemerons_len(t) == 0);
    CHECK(tricolor_ephemerons_insert(m, t, k1, NULL, NULL) == TRICOLOR_ERR_NULL);
    OK(tricolor_ephemerons_free(t));
    OK(tricolor_ephemerons_free(NULL));
    CHECK(tricolor_ephemerons_new(NULL) == NULL);
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

/* Tagged words: odd = integer (n << 1 | 1), even non-zero = pointer, 0 = nil. */
static size_t decode_tagged(uint64_t w, void *ctx) {
    (void)ctx;
    return (w != 0 && (w & 1) == 0) ? (size_t)w : 0;
}

static int traces;

static void trace_tagged(tricolor_tracer *t, const void *obj, size_t words, size_t len,
                         void *ctx) {
    (void)obj;
    (void)len;
    __atomic_add_fetch((int *)ctx, 1, __ATOMIC_RELAXED);
    for (size_t i = 0; i < words; i++) tricolor_tracer_edge(t, decode_tagged(tricolor_tracer_word(t, i), NULL));
}

static void test_traced(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id tuple = 0;
    OK(tricolor_register_traced(h, "Tuple", TRICOLOR_SHAPE_ARRAY, 1, trace_tagged, decode_tagged,
                                &traces, &tuple));
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    void *inner = tricolor_new(m, tuple, 1);
    OK(tricolor_store_word(m, inner, 0, (7 << 1) | 1));
    size_t slot = tricolor_root_push(m, inner);
    void *outer = tricolor_new(m, tuple, 2);
    OK(tricolor_store_word(m, outer, 0, (42 << 1) | 1));
    OK(tricolor_store_word(m, outer, 1, (uint64_t)(uintptr_t)inner));
    OK(tricolor_root_set(m, slot, outer));
    OK(tricolor_collect(m));
    tricolor_stats st;
    tricolor_heap_stats(h, &st);
    CHECK(st.last_objects_marked == 2);
    CHECK(traces >= 2);
    void *o = tricolor_root_get(m, slot);
    CHECK((void *)(uintptr_t)decode_tagged(tricolor_load_word(m, o, 1), NULL) == inner);
    CHECK(tricolor_load_word(m, inner, 0) == ((7 << 1) | 1));
    CHECK(tricolor_load(m, o, 0) == NULL && error_says("no pointer map"));
    CHECK(tricolor_register_traced(h, "T", TRICOLOR_SHAPE_FIXED, 1, trace_tagged, NULL, NULL,
                                   &tuple) == TRICOLOR_ERR_NULL);
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

/* One traced type's context: its number and how often it traced. Shared by
 * the mark workers, so the count is atomic. */
struct traced_ctx {
    uint64_t id;
    int traces;
};

/* Word 0 holds a tagged pointer (or 0), word 1 the type's number, tagged. */
static void trace_counted(tricolor_tracer *t, const void *obj, size_t words, size_t len,
                          void *ctx) {
    (void)obj;
    (void)words;
    (void)len;
    struct traced_ctx *c = ctx;
    __atomic_add_fetch(&c->traces, 1, __ATOMIC_RELAXED);
    if (tricolor_tracer_word(t, 1) == ((c->id << 1) | 1))
        tricolor_tracer_edge(t, decode_tagged(tricolor_tracer_word(t, 0), NULL));
}

static size_t decode_counted(uint64_t w, void *ctx) {
    (void)ctx;
    return decode_tagged(w, NULL);
}

/* More traced types than the old fixed table of callbacks had room for,
 * each with its own context, linked in a chain of one object per type. */
static void test_many_traced(void) {
    enum { TYPES = 100 };
    static struct traced_ctx ctxs[TYPES];
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id ids[TYPES];
    for (int i = 0; i < TYPES; i++) {
        char name[32];
        snprintf(name, sizeof name, "Traced%d", i);
        ctxs[i].id = (uint64_t)i;
        ctxs[i].traces = 0;
        OK(tricolor_register_traced(h, name, TRICOLOR_SHAPE_FIXED, 2, trace_counted,
                                    decode_counted, &ctxs[i], &ids[i]));
    }
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    size_t slot = tricolor_root_push(m, NULL);
    for (int i = 0; i < TYPES; i++) {
        void *o = tricolor_new(m, ids[i], 0);
        CHECK(o != NULL);
        OK(tricolor_store_word(m, o, 0, (uint64_t)(uintptr_t)tricolor_root_get(m, slot)));
        OK(tricolor_store_word(m, o, 1, ((uint64_t)i << 1) | 1));
        OK(tricolor_root_set(m, slot, o));
    }
    OK(tricolor_collect(m));
    tricolor_stats st;
    OK(tricolor_heap_stats(h, &st));
    CHECK(st.last_objects_marked == TYPES);
    int all_traced = 1;
    for (int i = 0; i < TYPES; i++) all_traced &= __atomic_load_n(&ctxs[i].traces, __ATOMIC_RELAXED) >= 1;
    CHECK(all_traced);
    /* The chain survived: walk it back to the first object. */
    void *o = tricolor_root_get(m, slot);
    int n = 0;
    while (o != NULL && n <= TYPES) {
        tricolor_type_id ty = 0;
        OK(tricolor_shape_of(m, o, &ty, NULL));
        CHECK(ty == ids[TYPES - 1 - n]);
        o = (void *)(uintptr_t)decode_tagged(tricolor_load_word(m, o, 0), NULL);
        n++;
    }
    CHECK(n == TYPES);
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

/* Byte access goes through the library's checked byte-array calls: any
 * other object, or a pointer that is no object of the heap, is an error. */
static void test_bytes(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id cons = cons_type(h), str = 0;
    OK(tricolor_register_bytes(h, "String", &str));
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    void *a = tricolor_new(m, str, 6);
    size_t slot = tricolor_root_push(m, a);
    void *b = tricolor_new(m, str, 4);
    tricolor_root_push(m, b);
    memcpy(tricolor_bytes(m, a, NULL), "tri---", 6);
    memcpy(tricolor_bytes(m, b, NULL), "four", 4);
    OK(tricolor_copy_bytes(m, b, 1, a, 3, 3));
    CHECK(memcmp(tricolor_bytes(m, a, NULL), "triour", 6) == 0);
    OK(tricolor_copy_bytes(m, a, 0, a, 2, 4)); /* overlapping: a memmove */
    CHECK(memcmp(tricolor_bytes(m, a, NULL), "trtrio", 6) == 0);

    /* Errors: nothing is read or written, the last error says why. */
    size_t len = 99;
    void *c = tricolor_new(m, cons, 0);
    CHECK(tricolor_bytes(m, c, &len) == NULL && len == 99);
    CHECK(error_says("tricolor_bytes") && error_says("needs a byte array") && error_says("Cons"));
    uint64_t foreign[4] = {0, 0, 0, 0};
    CHECK(tricolor_bytes(m, foreign, &len) == NULL && len == 99);
    CHECK(error_says("is not an object of this heap"));
    CHECK(foreign[0] == 0 && foreign[1] == 0);
    CHECK(tricolor_bytes(m, NULL, &len) == NULL && error_says("is NULL"));
    CHECK(tricolor_copy_bytes(m, a, 0, c, 0, 1) == TRICOLOR_ERR_MISUSE);
    CHECK(error_says("needs a byte array"));
    CHECK(tricolor_copy_bytes(m, foreign, 0, a, 0, 1) == TRICOLOR_ERR_MISUSE);
    CHECK(tricolor_copy_bytes(m, b, 2, a, 0, 3) == TRICOLOR_ERR_MISUSE);
    CHECK(error_says("source range"));
    CHECK(tricolor_copy_bytes(m, b, 0, a, 4, 3) == TRICOLOR_ERR_MISUSE);
    CHECK(error_says("destination range"));
    CHECK(memcmp(tricolor_bytes(m, a, NULL), "trtrio", 6) == 0);
    OK(tricolor_root_truncate(m, slot));
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

/* The user bits of object headers: 0 in a new object, set and read back,
 * kept by collections (with and without generations, the objects old and
 * stored into), type and length untouched; bits over 15 refused. */
static void test_user_bits(bool generational) {
    tricolor_config cfg;
    tricolor_config_default(&cfg);
    cfg.generational = generational;
    cfg.verify = true;
    tricolor_heap *h = NULL;
    OK(tricolor_heap_new(&cfg, &h));
    tricolor_type_id cons = cons_type(h), str = 0;
    OK(tricolor_register_bytes(h, "String", &str));
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));

    enum { N = 64 };
    void *list = NULL;
    size_t slot = tricolor_root_push(m, NULL);
    for (uint16_t i = 0; i < N; i++) {
        void *c = tricolor_new(m, cons, 0);
        CHECK(tricolor_user_bits(m, c) == 0);
        OK(tricolor_set_user_bits(m, c, (uint16_t)(i * 0x1FF) & TRICOLOR_MAX_USER_BITS));
        OK(tricolor_store_word(m, c, 0, i));
        OK(tricolor_store(m, c, 1, list));
        list = c;
        OK(tricolor_root_set(m, slot, list));
    }
    void *s = tricolor_new(m, str, 100000); /* a large object */
    size_t sslot = tricolor_root_push(m, s);
    OK(tricolor_set_user_bits(m, s, TRICOLOR_MAX_USER_BITS));
    for (int round = 0; round < 3; round++) {
        OK(tricolor_collect(m));
        /* Stores into the (now old) cells, and new bits on half of them. */
        void *c = tricolor_root_get(m, slot);
        for (uint16_t i = N; i-- > 0; c = tricolor_load(m, c, 1)) {
            CHECK(tricolor_load_word(m, c, 0) == i);
            uint16_t want = (uint16_t)(i * 0x1FF + round * (i % 2)) & TRICOLOR_MAX_USER_BITS;
            CHECK(tricolor_user_bits(m, c) == want);
            if (i % 2) {
                OK(tricolor_set_user_bits(m, c, (uint16_t)(want + 1) & TRICOLOR_MAX_USER_BITS));
            }
            OK(tricolor_store(m, c, 1, tricolor_load(m, c, 1)));
        }
    }
    s = tricolor_root_get(m, sslot);
    CHECK(tricolor_user_bits(m, s) == TRICOLOR_MAX_USER_BITS);
    tricolor_type_id ty = 0;
    size_t len = 0;
    OK(tricolor_shape_of(m, s, &ty, &len));
    CHECK(ty == str && len == 100000);

    /* Bad calls. */
    CHECK(tricolor_set_user_bits(m, s, 0x8000) == TRICOLOR_ERR_BAD_ARGUMENT);
    CHECK(error_says("do not fit") && error_says("0x8000"));
    CHECK(tricolor_user_bits(m, s) == TRICOLOR_MAX_USER_BITS); /* nothing written */
    CHECK(tricolor_set_user_bits(m, NULL, 1) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_user_bits(m, NULL) == 0 && error_says("the object is NULL"));
    CHECK(tricolor_set_user_bits(NULL, s, 1) == TRICOLOR_ERR_NULL);
    static uint64_t not_an_object[4];
    CHECK(tricolor_user_bits(m, not_an_object) == 0 && error_says("not an object of this heap"));
    CHECK(tricolor_set_user_bits(m, (char *)s + 8, 1) == TRICOLOR_ERR_MISUSE); /* debug builds */
    CHECK(error_says("points inside"));
    CHECK(tricolor_user_bits(m, s) == TRICOLOR_MAX_USER_BITS);

    OK(tricolor_root_truncate(m, 0));
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

/* Header-free objects: a two-pointer cell takes its payload only, keeps
 * its type in its span, survives collections (with and without
 * generations: old cells stored into), and has no user bits. */
static void test_header_free(bool generational) {
    tricolor_config cfg;
    tricolor_config_default(&cfg);
    cfg.generational = generational;
    cfg.verify = true;
    cfg.checkmark = true;
    tricolor_heap *h = NULL;
    OK(tricolor_heap_new(&cfg, &h));
    uint32_t ptrs[] = {1};
    tricolor_type_id cell = 0, headed = cons_type(h);
    OK(tricolor_register_fixed_header_free(h, "Cell", 2, ptrs, 1, &cell));
    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    CHECK(tricolor_type_is_header_free(m, cell) == 1);
    CHECK(tricolor_type_is_header_free(m, headed) == 0);
    CHECK(tricolor_type_is_header_free(m, 12345) == 0 && error_says("0x3039 was not registered"));

    enum { N = 1000 };
    size_t slot = tricolor_root_push(m, NULL);
    for (uint64_t i = 0; i < N; i++) {
        void *c = tricolor_new(m, cell, 0);
        OK(tricolor_store_word(m, c, 0, i));
        OK(tricolor_store(m, c, 1, tricolor_root_get(m, slot)));
        OK(tricolor_root_set(m, slot, c));
    }
    for (int round = 0; round < 3; round++) {
        OK(tricolor_collect(m));
        void *c = tricolor_root_get(m, slot);
        for (uint64_t i = N; i-- > 0; c = tricolor_load(m, c, 1)) {
            CHECK(tricolor_load_word(m, c, 0) == i);
            tricolor_type_id ty = 0;
            size_t len = 1;
            OK(tricolor_shape_of(m, c, &ty, &len));
            CHECK(ty == cell && len == 0);
            /* Old cells (after the first round) point to fresh copies of
             * their successors: old-to-young stores. */
            void *next = tricolor_load(m, c, 1);
            if (i % 100 == 1 && next != NULL) {
                void *fresh = tricolor_new(m, cell, 0);
                OK(tricolor_store_word(m, fresh, 0, tricolor_load_word(m, next, 0)));
                OK(tricolor_store(m, fresh, 1, tricolor_load(m, next, 1)));
                OK(tricolor_store(m, c, 1, fresh));
            }
        }
    }
    void *c = tricolor_root_get(m, slot);
    CHECK(tricolor_user_bits(m, c) == 0);
    CHECK(tricolor_set_user_bits(m, c, 1) == TRICOLOR_ERR_BAD_ARGUMENT);
    CHECK(error_says("header-free"));
    CHECK(tricolor_new(m, cell, 3) == NULL && error_says("length 0"));

    OK(tricolor_root_truncate(m, 0));
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

/* Pointer-prefix and prefix + array layouts. */
static void test_shapes(void) {
    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id node = 0, list = 0, closure = 0, table = 0, bad = 0;
    /* Node: two pointers, then a data word. */
    OK(tricolor_register_fixed_leading(h, "Node", 3, 2, &node));
    /* List: an array of pointers. */
    OK(tricolor_register_array_leading(h, "List", 1, 1, &list));
    /* Closure: arity (data) and function (pointer), then upvalues. */
    uint32_t closure_prefix[] = {1}, closure_elem[] = {0};
    OK(tricolor_register_prefix_array(h, "Closure", 2, closure_prefix, 1, 1, closure_elem, 1,
                                      &closure));
    /* Table: a count, then entries of key, value (pointers) and hash. */
    OK(tricolor_register_prefix_array_leading(h, "Table", 1, 0, 3, 2, &table));
    CHECK(tricolor_register_prefix_array(h, "Bad", 1, closure_prefix, 1, 1, NULL, 0, &bad) ==
          TRICOLOR_ERR_BAD_DESCRIPTOR);
    CHECK(error_says("Bad"));
    CHECK(tricolor_register_prefix_array_leading(h, "Empty", 1, 0, 0, 0, &bad) ==
          TRICOLOR_ERR_BAD_DESCRIPTOR);
    CHECK(tricolor_register_fixed_leading(h, "Over", 2, 3, &bad) == TRICOLOR_ERR_BAD_DESCRIPTOR);
    CHECK(tricolor_register_prefix_array(h, "Null", 1, NULL, 1, 1, NULL, 0, &bad) ==
          TRICOLOR_ERR_NULL);

    tricolor_mutator *m = NULL;
    OK(tricolor_attach(h, &m));
    void *tab = tricolor_new(m, table, 2);
    size_t slot = tricolor_root_push(m, tab);
    size_t len = 0;
    tricolor_type_id ty = 0;
    OK(tricolor_shape_of(m, tab, &ty, &len));
    CHECK(ty == table && len == 2);
    OK(tricolor_store_word(m, tab, 0, 2));
    void *clo = tricolor_new(m, closure, 2);
    OK(tricolor_store(m, tab, 1, clo)); /* entry 0's key */
    void *l = tricolor_new(m, list, 3);
    OK(tricolor_store(m, tab, 5, l)); /* entry 1's value */
    OK(tricolor_store_word(m, tab, 6, 12345)); /* entry 1's hash */
    void *n1 = tricolor_new(m, node, 0);
    OK(tricolor_store(m, clo, 1, n1)); /* the function */
    void *n2 = tricolor_new(m, node, 0);
    OK(tricolor_store(m, clo, 3, n2)); /* upvalue 1 */
    void *n3 = tricolor_new(m, node, 0);
    OK(tricolor_store(m, l, 2, n3));
    void *n4 = tricolor_new(m, node, 0);
    OK(tricolor_store(m, n3, 1, n4));
    OK(tricolor_store_word(m, n4, 2, 77));
    CHECK(tricolor_store(m, clo, 0, n1) == TRICOLOR_ERR_MISUSE); /* arity is data */
    CHECK(tricolor_store(m, tab, 3, n1) == TRICOLOR_ERR_MISUSE); /* entry 0's hash */
    CHECK(tricolor_store(m, n4, 2, n1) == TRICOLOR_ERR_MISUSE);
    (void)tricolor_new(m, node, 0); /* garbage */
    OK(tricolor_collect(m));
    tricolor_stats st;
    OK(tricolor_heap_stats(h, &st));
    CHECK(st.last_objects_marked == 7);
    CHECK(tricolor_load(m, tab, 1) == clo && tricolor_load(m, tab, 5) == l);
    CHECK(tricolor_load_word(m, tab, 6) == 12345);
    CHECK(tricolor_load(m, clo, 3) == n2 && tricolor_load(m, n3, 1) == n4);
    CHECK(tricolor_load_word(m, n4, 2) == 77);
    OK(tricolor_root_truncate(m, slot));
    OK(tricolor_detach(m));
    OK(tricolor_heap_destroy(h));
}

struct foreign_call {
    tricolor_mutator *m;
    tricolor_heap *h;
    tricolor_status collect, alloc, store, detach, attach;
};

static void *use_foreign_mutator(void *arg) {
    struct foreign_call *c = arg;
    void *o = NULL;
    c->collect = tricolor_collect(c->m);
    c->alloc = tricolor_alloc(c->m, 1, 0, &o);
    c->store = tricolor_store(c->m, NULL, 0, NULL);
    c->detach = tricolor_detach(c->m);
    /* This thread may attach for itself. */
    tricolor_mutator *mine = NULL;
    c->attach = tricolor_attach(c->h, &mine);
    tricolor_detach(mine);
    return NULL;
}

static void test_errors(void) {
    tricolor_clear_error();
    CHECK(tricolor_last_error() == NULL);
    CHECK(tricolor_attach(NULL, NULL) == TRICOLOR_ERR_NULL);
    CHECK(error_says("tricolor_attach: the heap is NULL"));
    tricolor_clear_error();
    CHECK(tricolor_last_error() == NULL);
    CHECK(strcmp(tricolor_status_name(TRICOLOR_ERR_WRONG_THREAD), "TRICOLOR_ERR_WRONG_THREAD") == 0);
    CHECK(strcmp(tricolor_status_name(TRICOLOR_OK), "TRICOLOR_OK") == 0);
    CHECK(strstr(tricolor_status_name(99), "not") != NULL);
    CHECK(tricolor_collect(NULL) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_detach(NULL) == TRICOLOR_OK);
    CHECK(tricolor_heap_collect(NULL) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_heap_stats(NULL, NULL) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_set_gctrace(NULL, true) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_heap_config(NULL, NULL) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_heap_wait_for_finalizers(NULL) == TRICOLOR_ERR_NULL);
    CHECK(tricolor_root_push(NULL, NULL) == SIZE_MAX);
    CHECK(tricolor_root_count(NULL) == SIZE_MAX);
    CHECK(tricolor_ephemerons_len(NULL) == 0);
    CHECK(tricolor_is_native(NULL) == false);
    CHECK(tricolor_cleanup_cancel(NULL, NULL) == TRICOLOR_ERR_NULL);

    tricolor_heap *h = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id cons = cons_type(h);
    tricolor_mutator *m = NULL, *again = NULL;
    OK(tricolor_attach(h, &m));
    CHECK(tricolor_attach(h, &again) == TRICOLOR_ERR_ALREADY_ATTACHED);
    CHECK(again == NULL && error_says("already attached"));

    /* A handle of the wrong kind. */
    CHECK(tricolor_collect((tricolor_mutator *)h) == TRICOLOR_ERR_INVALID_HANDLE);
    CHECK(tricolor_heap_collect((tricolor_heap *)m) == TRICOLOR_ERR_INVALID_HANDLE);

    /* Another thread using this thread's mutator. */
    struct foreign_call c = {m, h, 0, 0, 0, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, use_foreign_mutator, &c);
    tricolor_enter_native(m);
    pthread_join(t, NULL);
    tricolor_leave_native(m);
    CHECK(c.collect == TRICOLOR_ERR_WRONG_THREAD);
    CHECK(c.alloc == TRICOLOR_ERR_WRONG_THREAD); /* debug builds */
    CHECK(c.store == TRICOLOR_ERR_WRONG_THREAD);
    CHECK(c.detach == TRICOLOR_ERR_WRONG_THREAD);
    CHECK(c.attach == TRICOLOR_OK);

    /* Bad pointers and fields (checked in debug builds). */
    void *a = tricolor_new(m, cons, 0);
    static uint64_t not_an_object[4];
    CHECK(tricolor_load(m, not_an_object, 1) == NULL && error_says("not an object of this heap"));
    CHECK(tricolor_store(m, a, 1, not_an_object) == TRICOLOR_ERR_MISUSE);
    CHECK(error_says("stored value"));
    CHECK(tricolor_load(m, a, 0) == NULL && error_says("not a pointer"));
    CHECK(tricolor_store_word(m, a, 1, 5) == TRICOLOR_ERR_MISUSE && error_says("a pointer"));
    CHECK(tricolor_load_word(m, a, 2) == 0 && error_says("field 2"));
    CHECK(tricolor_store(m, (char *)a + 8, 1, NULL) == TRICOLOR_ERR_MISUSE);
    CHECK(error_says("points inside"));
    CHECK(tricolor_load(m, NULL, 1) == NULL && error_says("the object is NULL"));
    CHECK(tricolor_root_set(m, 99, NULL) == TRICOLOR_ERR_MISUSE);
    OK(tricolor_detach(m));

    /* Destroying the handle first: the mutator keeps the heap alive. */
    tricolor_heap *h2 = new_heap(TRICOLOR_BARRIER_HYBRID);
    tricolor_type_id cons2 = cons_type(h2);
    tricolor_mutator *m2 = NULL;
    OK(tricolor_attach(h2, &m2));
    OK(tricolor_heap_destroy(h2));
    CHECK(tricolor_new(m2, cons2, 0) != NULL);
    OK(tricolor_collect(m2));
    OK(tricolor_detach(m2));
    OK(tricolor_heap_destroy(h));
}

/* ---- several mutators while the collector marks concurrently -------------- */

#define THREADS 4
#define TABLE 64

struct worker {
    tricolor_heap *h;
    tricolor_type_id node, str, vec;
    unsigned seed;
    int errors;
};

/* A tree of depth d: node word 0 = checksum, word 1/2 = children. */
static void *make_tree(tricolor_mutator *m, struct worker *w, int d) {
    size_t base = tricolor_root_count(m);
    void *n = tricolor_new(m, w->node, 0);
    tricolor_root_push(m, n);
    tricolor_store_word(m, n, 0, (uint64_t)d);
    if (d > 0) {
        void *l = make_tree(m, w, d - 1);
        n = tricolor_root_get(m, base);
        tricolor_store(m, n, 1, l);
        void *r = make_tree(m, w, d - 1);
        n = tricolor_root_get(m, base);
        tricolor_store(m, n, 2, r);
    }
    void *s = tricolor_new(m, w->str, 16); /* garbage, for churn */
    (void)s;
    n = tricolor_root_get(m, base);
    tricolor_root_truncate(m, base);
    return n;
}

static long check_tree(tricolor_mutator *m, void *n, int d) {
    if (n == NULL) return -1000000;
    if (tricolor_load_word(m, n, 0) != (uint64_t)d) return -1000000;
    if (d == 0) return 1;
    return 1 + check_tree(m, tricolor_load(m, n, 1), d - 1) +
           check_tree(m, tricolor_load(m, n, 2), d - 1);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    tricolor_mutator *m = NULL;
    if (tricolor_attach(w->h, &m) != TRICOLOR_OK) {
        w->errors++;
        return NULL;
    }
    /* The table: an array of trees, rooted in the shadow stack. */
    void *vec = tricolor_new(m, w->vec, TABLE);
    size_t table = tricolor_root_push(m, vec);
    for (int i = 0; i < 1500; i++) {
        int slot = (int)(rand_r(&w->seed) % TABLE);
        int depth = 2 + (int)(rand_r(&w->seed) % 4);
        void *t = make_tree(m, w, depth);
        vec = tricolor_root_get(m, table);
        void *old = tricolor_load(m, vec, (size_t)slot);
        if (old != NULL) {
            uint64_t d = tricolor_load_word(m, old, 0);
            if (check_tree(m, old, (int)d) != (2L << d) - 1) w->errors++;
        }
        tricolor_store(m, vec, (size_t)slot, t);
        if (i % 500 == 0) tricolor_safepoint(m);
    }
    vec = tricolor_root_get(m, table);
    for (int i = 0; i < TABLE; i++) {
        void *t = tricolor_load(m, vec, (size_t)i);
        if (t != NULL) {
            uint64_t d = tricolor_load_word(m, t, 0);
            if (check_tree(m, t, (int)d) != (2L << d) - 1) w->errors++;
        }
    }
    tricolor_detach(m);
    return NULL;
}

static void test_threads(uint32_t barrier) {
    tricolor_config cfg;
    tricolor_config_default(&cfg);
    cfg.barrier = barrier;
    cfg.gogc = 20; /* many cycles */
    cfg.verify = true;
    tricolor_heap *h = NULL;
    OK(tricolor_heap_new(&cfg, &h));
    struct worker w[THREADS];
    uint32_t node_ptrs[] = {1, 2};
    uint32_t elem_ptrs[] = {0};
    tricolor_type_id node = 0, str = 0, vec = 0;
    OK(tricolor_register_fixed(h, "Node", 3, node_ptrs, 2, &node));
    OK(tricolor_register_bytes(h, "String", &str));
    OK(tricolor_register_array(h, "Vector", 1, elem_ptrs, 1, &vec));
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){h, node, str, vec, (unsigned)(i * 7919 + barrier), 0};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    /* The main thread, not attached, asks for collections meanwhile. */
    for (int i = 0; i < 3; i++) OK(tricolor_heap_collect(h));
    int errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        errors += w[i].errors;
    }
    CHECK(errors == 0);
    tricolor_stats st;
    OK(tricolor_heap_stats(h, &st));
    CHECK(st.cycles >= 3);
    printf("barrier %u: %d threads, %llu cycles, max pause %.3f ms\n", barrier, THREADS,
           (unsigned long long)st.cycles, st.pause_max_ns / 1e6);
    OK(tricolor_heap_destroy(h));
}

int main(void) {
    test_config_and_heap();
    test_types();
    test_alloc_and_fields();
    test_roots_and_collect();
    test_globals();
    test_root_scanner();
    test_native_and_safepoint();
    test_finalizers_and_cleanups();
    test_weak_and_ephemerons();
    test_traced();
    test_many_traced();
    test_bytes();
    test_shapes();
    test_user_bits(false);
    test_user_bits(true);
    test_header_free(false);
    test_header_free(true);
    test_errors();
    test_threads(TRICOLOR_BARRIER_HYBRID);
    test_threads(TRICOLOR_BARRIER_SATB);
    test_threads(TRICOLOR_BARRIER_INCREMENTAL);
    test_threads(TRICOLOR_BARRIER_OFF);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
