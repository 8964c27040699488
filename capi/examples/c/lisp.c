/*
 * A small list-processing interpreter in C on tricolor: an example to copy
 * from. The interpreter keeps its temporaries on its own value stack, and a
 * root scanner reports that stack to the collector, as a VM reports its
 * interpreter stack; VM-wide values (the symbol table, the global
 * environment) are globals.
 *
 *   cc -O2 -I capi/include capi/examples/c/lisp.c \
 *      target/release/libtricolor_capi.a -lpthread -ldl -lm -o lisp && ./lisp
 *
 * The language: integers, symbols, lists, (quote x), (if c a b),
 * (define name expr), (define (f args...) body), (lambda (args...) body),
 * and the primitives + - * < = cons car cdr null? list.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tricolor.h"

static tricolor_heap *heap;
static tricolor_mutator *m;
static tricolor_type_id t_cons, t_int, t_sym, t_lambda, t_prim;
static tricolor_global *symbols; /* a list of every symbol, for interning */
static tricolor_global *globals; /* the global environment: ((sym . value) ...) */

/* ---- the value stack and its root scanner ------------------------------ */

#define STACK_MAX (1 << 18)
static void *stack[STACK_MAX];
static size_t sp;

/* Reports the live part of the value stack. The scanner runs while this
 * thread is stopped at a GC point, so it reads the stack without a lock. */
static void scan_stack(tricolor_visitor *v, void *ctx) {
    (void)ctx;
    for (size_t i = 0; i < sp; i++) tricolor_visit(v, stack[i]);
}

static size_t push(void *v) {
    if (sp == STACK_MAX) {
        fprintf(stderr, "lisp: stack overflow\n");
        exit(1);
    }
    stack[sp] = v;
    return sp++;
}

/* ---- objects ------------------------------------------------------------ */

static void *alloc(tricolor_type_id t, size_t len) {
    void *o = tricolor_new(m, t, len); /* a GC point: arguments are on the stack */
    if (o == NULL) {
        fprintf(stderr, "lisp: %s\n", tricolor_last_error());
        exit(1);
    }
    return o;
}

static tricolor_type_id type_of(void *o) {
    tricolor_type_id t = 0;
    tricolor_shape_of(m, o, &t, NULL);
    return t;
}

static int is(void *o, tricolor_type_id t) { return o != NULL && type_of(o) == t; }

/* Every allocating helper roots its own arguments. */
static void *cons(void *a, void *d) {
    size_t base = push(a);
    push(d);
    void *c = alloc(t_cons, 0);
    tricolor_store(m, c, 0, stack[base]);
    tricolor_store(m, c, 1, stack[base + 1]);
    sp = base;
    return c;
}

static void *car(void *c) { return is(c, t_cons) ? tricolor_load(m, c, 0) : NULL; }
static void *cdr(void *c) { return is(c, t_cons) ? tricolor_load(m, c, 1) : NULL; }

static void *make_int(int64_t n) {
    void *o = alloc(t_int, 0);
    tricolor_store_word(m, o, 0, (uint64_t)n);
    return o;
}

static int64_t int_of(void *o) {
    if (!is(o, t_int)) {
        fprintf(stderr, "lisp: not an integer\n");
        exit(1);
    }
    return (int64_t)tricolor_load_word(m, o, 0);
}

static int sym_is(void *s, const char *name, size_t len) {
    size_t n;
    uint8_t *b = tricolor_bytes(m, s, &n);
    return n == len && memcmp(b, name, len) == 0;
}

static void *intern(const char *name, size_t len) {
    for (void *l = tricolor_global_get(symbols); l; l = cdr(l))
        if (sym_is(car(l), name, len)) return car(l);
    void *s = alloc(t_sym, len);
    memcpy(tricolor_bytes(m, s, NULL), name, len);
    tricolor_global_set(symbols, cons(s, tricolor_global_get(symbols)));
    return s;
}

static void *sym(const char *name) { return intern(name, strlen(name)); }

/* ---- environments ------------------------------------------------------- */

static void *lookup(void *env, void *s) {
    for (int pass = 0; pass < 2; pass++, env = tricolor_global_get(globals))
        for (void *l = env; l; l = cdr(l))
            if (car(car(l)) == s) return cdr(car(l));
    size_t n;
    uint8_t *b = tricolor_bytes(m, s, &n);
    fprintf(stderr, "lisp: unbound symbol %.*s\n", (int)n, (const char *)b);
    exit(1);
}

static void define(void *s, void *v) {
    size_t base = push(cons(s, v));
    tricolor_global_set(globals, cons(stack[base], tricolor_global_get(globals)));
    sp = base;
}

/* ---- the reader ----------------------------------------------------------- */

static void *read_expr(const char **p);

static void *reverse(void *l) {
    size_t base = push(l);
    size_t acc = push(NULL);
    while (stack[base]) {
        stack[acc] = cons(car(stack[base]), stack[acc]);
        stack[base] = cdr(stack[base]);
    }
    void *r = stack[acc];
    sp = base;
    return r;
}

static void *read_expr(const char **p) {
    while (isspace((unsigned char)**p)) (*p)++;
    if (**p == '(') {
        (*p)++;
        size_t acc = push(NULL);
        for (;;) {
            while (isspace((unsigned char)**p)) (*p)++;
            if (**p == ')' || **p == 0) break;
            void *x = read_expr(p);
            stack[acc] = cons(x, stack[acc]);
        }
        if (**p == ')') (*p)++;
        void *l = reverse(stack[acc]);
        sp = acc;
        return l;
    }
    const char *start = *p;
    while (**p && !isspace((unsigned char)**p) && **p != '(' && **p != ')') (*p)++;
    if (isdigit((unsigned char)*start) || (*start == '-' && *p - start > 1))
        return make_int(strtoll(start, NULL, 10));
    return intern(start, (size_t)(*p - start));
}

/* ---- eval ----------------------------------------------------------------- */

enum { P_ADD, P_SUB, P_MUL, P_LT, P_EQ, P_CONS, P_CAR, P_CDR, P_NULLP, P_LIST };
static void *s_quote, *s_if, *s_define, *s_lambda;

static void *eval(void *x, void *env);

static void *apply(void *f, void *args) {
    if (is(f, t_prim)) {
        void *a = car(args), *b = car(cdr(args));
        switch (tricolor_load_word(m, f, 0)) {
        case P_ADD: return make_int(int_of(a) + int_of(b));
        case P_SUB: return make_int(int_of(a) - int_of(b));
        case P_MUL: return make_int(int_of(a) * int_of(b));
        case P_LT: return int_of(a) < int_of(b) ? make_int(1) : NULL;
        case P_EQ: return int_of(a) == int_of(b) ? make_int(1) : NULL;
        case P_CONS: return cons(a, b);
        case P_CAR: return car(a);
        case P_CDR: return cdr(a);
        case P_NULLP: return a == NULL ? make_int(1) : NULL;
        case P_LIST: return args;
        }
    }
    if (is(f, t_lambda)) {
        /* A new environment: the closure's, extended with (param . arg) pairs. */
        size_t base = push(f);
        push(args);
        size_t env = push(tricolor_load(m, f, 2));
        void *ps = tricolor_load(m, f, 0);
        size_t params = push(ps);
        while (stack[params]) {
            void *pair = cons(car(stack[params]), car(stack[base + 1]));
            stack[env] = cons(pair, stack[env]);
            stack[params] = cdr(stack[params]);
            stack[base + 1] = cdr(stack[base + 1]);
        }
        void *r = eval(tricolor_load(m, stack[base], 1), stack[env]);
        sp = base;
        return r;
    }
    fprintf(stderr, "lisp: not a function\n");
    exit(1);
}

static void *eval(void *x, void *env) {
    if (x == NULL || is(x, t_int)) return x;
    if (is(x, t_sym)) return lookup(env, x);
    size_t base = push(x);
    push(env);
    void *head = car(x), *r;
    if (head == s_quote) {
        r = car(cdr(x));
    } else if (head == s_if) {
        void *c = eval(car(cdr(x)), env);
        x = stack[base];
        r = eval(c ? car(cdr(cdr(x))) : car(cdr(cdr(cdr(x)))), stack[base + 1]);
    } else if (head == s_lambda || (head == s_define && is(car(cdr(x)), t_cons))) {
        /* (lambda params body), or (define (name . params) body) */
        int named = head == s_define;
        void *params = named ? cdr(car(cdr(x))) : car(cdr(x));
        void *lam = alloc(t_lambda, 0);
        x = stack[base];
        tricolor_store(m, lam, 0, params);
        tricolor_store(m, lam, 1, car(cdr(cdr(x))));
        tricolor_store(m, lam, 2, stack[base + 1]);
        if (named) define(car(car(cdr(x))), lam);
        r = lam;
    } else if (head == s_define) {
        void *v = eval(car(cdr(cdr(x))), env);
        define(car(cdr(stack[base])), v);
        r = v;
    } else {
        size_t f = push(eval(head, env));
        size_t args = push(NULL);
        for (void *l = cdr(stack[base]); l; l = cdr(l)) {
            size_t rest = push(l);
            void *v = eval(car(l), stack[base + 1]);
            stack[args] = cons(v, stack[args]);
            l = stack[rest];
            sp = rest;
        }
        r = apply(stack[f], reverse(stack[args]));
    }
    sp = base;
    return r;
}

static void *run(const char *src) {
    void *r = NULL;
    size_t base = sp;
    while (*src) {
        void *x = read_expr(&src);
        push(x);
        r = eval(x, NULL);
        sp = base;
        while (isspace((unsigned char)*src)) src++;
    }
    return r;
}

static int64_t length(void *l) {
    int64_t n = 0;
    for (; l; l = cdr(l)) n++;
    return n;
}

int main(void) {
    tricolor_config cfg;
    tricolor_config_default(&cfg);
    cfg.gogc = 50; /* collect often, to show the roots are right */
    if (tricolor_heap_new_from_env(&cfg, &heap) != TRICOLOR_OK) {
        fprintf(stderr, "lisp: %s\n", tricolor_last_error());
        return 1;
    }
    uint32_t both[] = {0, 1}, three[] = {0, 1, 2};
    tricolor_register_fixed(heap, "Cons", 2, both, 2, &t_cons);
    tricolor_register_fixed(heap, "Int", 1, NULL, 0, &t_int);
    tricolor_register_bytes(heap, "Symbol", &t_sym);
    tricolor_register_fixed(heap, "Lambda", 3, three, 3, &t_lambda);
    tricolor_register_fixed(heap, "Prim", 1, NULL, 0, &t_prim);
    tricolor_attach(heap, &m);
    tricolor_set_root_scanner(m, scan_stack, NULL);
    symbols = tricolor_global_add(heap, NULL);
    globals = tricolor_global_add(heap, NULL);

    s_quote = sym("quote");
    s_if = sym("if");
    s_define = sym("define");
    s_lambda = sym("lambda");
    const char *prims[] = {"+", "-", "*", "<", "=", "cons", "car", "cdr", "null?", "list"};
    for (uint64_t i = 0; i < sizeof prims / sizeof *prims; i++) {
        size_t base = push(sym(prims[i]));
        void *p = alloc(t_prim, 0);
        tricolor_store_word(m, p, 0, i);
        define(stack[base], p);
        sp = base;
    }
    define(sym("nil"), NULL);

    run("(define (range a b) (if (< a b) (cons a (range (+ a 1) b)) nil))"
        "(define (map f l) (if (null? l) nil (cons (f (car l)) (map f (cdr l)))))"
        "(define (sum l) (if (null? l) 0 (+ (car l) (sum (cdr l)))))"
        "(define (rev l acc) (if (null? l) acc (rev (cdr l) (cons (car l) acc))))"
        "(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))");
    int64_t squares = int_of(run("(sum (map (lambda (x) (* x x)) (range 0 1000)))"));
    int64_t fib = int_of(run("(fib 20)"));
    int64_t last = int_of(run("(car (rev (range 0 5000) nil))"));
    int64_t len = length(run("(map (lambda (x) (+ x 1)) (range 0 3000))"));
    int64_t q = length(run("(quote (a b c))"));
    printf("sum of squares below 1000 = %lld\n", (long long)squares);
    printf("(fib 20) = %lld\n", (long long)fib);
    printf("last of (range 0 5000) = %lld\n", (long long)last);
    assert(squares == 332833500);
    assert(fib == 6765);
    assert(last == 4999);
    assert(len == 3000 && q == 3);

    tricolor_stats st;
    tricolor_heap_stats(heap, &st);
    printf("%llu collections, %llu objects allocated, max pause %.3f ms\n",
           (unsigned long long)st.cycles, (unsigned long long)st.allocated_objects_total,
           st.pause_max_ns / 1e6);
    assert(st.cycles > 0);
    tricolor_global_remove(symbols);
    tricolor_global_remove(globals);
    tricolor_detach(m);
    tricolor_heap_destroy(heap);
    printf("lisp: ok\n");
    return 0;
}
