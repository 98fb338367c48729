/*
 * sim_main — simulator CLI and HTTP sender on one libevent loop.
 * See sim_main.h; the signal model is in sim_signal.h, the fleet file and
 * request formats in sim_fleet.h.
 */
#include "sim_main.h"

#include "sim_fleet.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define US_PER_S     INT64_C(1000000)
#define MAX_RETRIES  8
#define MAX_INFLIGHT 64
#define MAX_QUEUED   2000
#define N_CONNS      8

struct sim_opts {
    const char *fleet_path;
    const char *url;
    double rate;  /* batches/s, 0 = unlimited */
    double speed; /* simulated seconds per real second */
    double duration_s;
    int dialect; /* -1 = per enterprise */
    int once;
    size_t max_batch;
    uint64_t seed;
};

struct sim_ctx;

struct job {
    struct sim_ctx *ctx;
    size_t ent;
    sim_request req;
    char idem[96];
    int attempts;
    size_t n_items;
    struct event *retry_ev;
    struct job *next_q;              /* ready queue */
    struct job *prev_all, *next_all; /* every live job, for shutdown */
};

struct sim_ctx {
    struct sim_opts o;
    struct event_base *base;
    struct evhttp_connection *conns[N_CONNS];
    size_t n_conns;
    char host[256];
    int port;
    char prefix[256];
    sim_fleet fleet;
    unsigned char *skip; /* enterprise unusable under --dialect */
    struct job *q_head, *q_tail, *all;
    size_t queued, inflight, live;
    double tokens;
    int64_t last_refill_us;
    int64_t real_start_us, sim_start_us;
    uint64_t seq;
    unsigned long sent, acked, retried, failed, dropped, items_acked;
    int stopping, shutting_down;
    struct event *tick_ev, *summary_ev, *stop_ev, *sig_int, *sig_term;
    sim_rng jitter;
};

static int64_t real_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

static int64_t sim_now(const struct sim_ctx *c, int64_t real)
{
    double el = (double)(real - c->real_start_us) * c->o.speed;
    int64_t t = c->sim_start_us + (int64_t)el;
    /* never run ahead of the wall clock: the server rejects future readings */
    return t > real ? real : t;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: dustwatch simulate --fleet FILE [options]\n"
        "  --fleet FILE     fleet file (JSON, written by the demo seeder)\n"
        "  --url URL        ingest base URL (overrides the fleet's ingest_url), http only\n"
        "  --rate N         at most N batches per second overall (default: unlimited)\n"
        "  --speed X        simulated seconds per real second (default 1); with X > 1 the\n"
        "                   simulation starts in the past and catches up with the wall\n"
        "                   clock (never sends future timestamps)\n"
        "  --duration S     stop after S real seconds (0 = run until SIGINT/SIGTERM)\n"
        "  --dialect D      force native|hebei|mem for every enterprise that has the credentials\n"
        "  --once           one batch per enterprise (every point sampled now), then exit\n"
        "  --max-batch N    readings per batch (default 2000)\n"
        "  --seed N         PRNG seed (default 1) for reproducible signals\n"
        "  --help           this text\n");
}

/* ------------------------------------------------------------ jobs */

static void job_free(struct job *j)
{
    struct sim_ctx *c = j->ctx;
    if (j->prev_all != NULL)
        j->prev_all->next_all = j->next_all;
    else
        c->all = j->next_all;
    if (j->next_all != NULL)
        j->next_all->prev_all = j->prev_all;
    if (j->retry_ev != NULL)
        event_free(j->retry_ev);
    sim_request_free(&j->req);
    free(j);
    c->live--;
}

static void enqueue(struct sim_ctx *c, struct job *j, int front)
{
    j->next_q = NULL;
    if (c->q_head == NULL) {
        c->q_head = c->q_tail = j;
    } else if (front) {
        j->next_q = c->q_head;
        c->q_head = j;
    } else {
        c->q_tail->next_q = j;
        c->q_tail = j;
    }
    c->queued++;
}

static struct job *dequeue(struct sim_ctx *c)
{
    struct job *j = c->q_head;
    if (j != NULL) {
        c->q_head = j->next_q;
        if (c->q_head == NULL)
            c->q_tail = NULL;
        c->queued--;
    }
    return j;
}

static void dispatch(struct sim_ctx *c);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;
    enqueue(j->ctx, j, 1);
    dispatch(j->ctx);
}

static void maybe_finish(struct sim_ctx *c)
{
    if (c->stopping && c->live == 0)
        event_base_loopexit(c->base, NULL);
}

static void schedule_retry(struct job *j, const char *retry_after)
{
    struct sim_ctx *c = j->ctx;
    double delay = 0.5 * (double)(1 << (j->attempts < 7 ? j->attempts : 7));
    if (delay > 60)
        delay = 60;
    delay *= 0.75 + 0.5 * sim_rng_uniform(&c->jitter);
    if (retry_after != NULL) {
        char *end;
        long s = strtol(retry_after, &end, 10);
        if (end != retry_after && *end == '\0' && s >= 0)
            delay = s > 300 ? 300 : (double)s;
    }
    if (j->retry_ev == NULL)
        j->retry_ev = evtimer_new(c->base, retry_cb, j);
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (double)(time_t)delay) * 1e6)};
    if (j->retry_ev == NULL || evtimer_add(j->retry_ev, &tv) != 0) {
        c->failed++;
        job_free(j);
        maybe_finish(c);
        return;
    }
    c->retried++;
}

static void on_response(struct evhttp_request *req, void *arg)
{
    struct job *j = arg;
    struct sim_ctx *c = j->ctx;
    if (c->shutting_down)
        return; /* connection torn down at exit; jobs freed by the caller */
    c->inflight--;
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
    if (code >= 200 && code < 300) {
        c->acked++;
        c->items_acked += j->n_items;
        job_free(j);
    } else if (code == 0 || code == 429 || code >= 500) {
        const char *ra = NULL;
        if (req != NULL)
            ra = evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After");
        if (++j->attempts > MAX_RETRIES || (c->stopping && c->o.duration_s > 0 && !c->o.once)) {
            c->failed++;
            job_free(j);
        } else {
            schedule_retry(j, ra);
        }
    } else {
        char snippet[201] = "";
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        if (in != NULL) {
            ev_ssize_t n = evbuffer_copyout(in, snippet, sizeof snippet - 1);
            snippet[n > 0 ? n : 0] = '\0';
        }
        fprintf(stderr, "sim: %s %s -> HTTP %d: %s\n", c->fleet.ents[j->ent].code, j->req.path,
                code, snippet);
        c->failed++;
        job_free(j);
    }
    dispatch(c);
    maybe_finish(c);
}

static void refill(struct sim_ctx *c)
{
    if (c->o.rate <= 0)
        return;
    int64_t now = real_now_us();
    c->tokens += (double)(now - c->last_refill_us) / (double)US_PER_S * c->o.rate;
    double cap = c->o.rate < 1 ? 1 : c->o.rate;
    if (c->tokens > cap)
        c->tokens = cap;
    c->last_refill_us = now;
}

static void dispatch(struct sim_ctx *c)
{
    refill(c);
    while (c->q_head != NULL && c->inflight < MAX_INFLIGHT) {
        if (c->o.rate > 0 && c->tokens < 1.0)
            return; /* the tick retries */
        struct job *j = dequeue(c);
        struct evhttp_request *r = evhttp_request_new(on_response, j);
        if (r == NULL) {
            enqueue(c, j, 1);
            return;
        }
        struct evkeyvalq *h = evhttp_request_get_output_headers(r);
        evhttp_add_header(h, "Host", c->host);
        evhttp_add_header(h, "Content-Type", "application/json");
        evhttp_add_header(h, "User-Agent", "dustwatch-simulate");
        for (int i = 0; i < 3 && j->req.hdr_name[i] != NULL; i++)
            evhttp_add_header(h, j->req.hdr_name[i], j->req.hdr_value[i]);
        evbuffer_add(evhttp_request_get_output_buffer(r), j->req.body, strlen(j->req.body));
        char path[1024];
        snprintf(path, sizeof path, "%s%s", c->prefix, j->req.path);
        struct evhttp_connection *conn = c->conns[j->ent % c->n_conns];
        if (evhttp_make_request(conn, r, EVHTTP_REQ_POST, path) != 0) {
            /* libevent frees r on failure */
            if (++j->attempts > MAX_RETRIES) {
                c->failed++;
                job_free(j);
            } else {
                schedule_retry(j, NULL);
            }
            continue;
        }
        c->inflight++;
        c->sent++;
        if (c->o.rate > 0)
            c->tokens -= 1.0;
    }
}

static int make_job(struct sim_ctx *c, size_t ent, sim_sample *s, size_t n)
{
    const sim_enterprise *e = &c->fleet.ents[ent];
    if (c->queued >= MAX_QUEUED) {
        c->dropped += n;
        return 0;
    }
    struct job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return -1;
    j->ctx = c;
    j->ent = ent;
    j->n_items = n;
    snprintf(j->idem, sizeof j->idem, "sim-%.40s-%" PRIx64 "-%" PRIu64, e->code,
             (uint64_t)c->real_start_us, ++c->seq);
    sim_dialect d = c->o.dialect >= 0 ? (sim_dialect)c->o.dialect : e->dialect;
    if (sim_build_readings(e, d, s, n, j->idem, &j->req) != 0) {
        free(j);
        return -1;
    }
    j->next_all = c->all;
    if (c->all != NULL)
        c->all->prev_all = j;
    c->all = j;
    c->live++;
    enqueue(c, j, 0);
    return 0;
}

/* Turn samples into batches of at most max_batch; frees s. */
static void emit(struct sim_ctx *c, size_t ent, sim_sample *s, size_t n)
{
    for (size_t off = 0; off < n; off += c->o.max_batch) {
        size_t k = n - off < c->o.max_batch ? n - off : c->o.max_batch;
        if (make_job(c, ent, s + off, k) != 0)
            fprintf(stderr, "sim: cannot build a batch for %s\n", c->fleet.ents[ent].code);
    }
    sim_samples_free(s, n);
}

static void generate(struct sim_ctx *c, int force)
{
    int64_t now = sim_now(c, real_now_us());
    for (size_t i = 0; i < c->fleet.n_ents; i++) {
        if (c->skip[i])
            continue;
        sim_enterprise *e = &c->fleet.ents[i];
        sim_sample *s;
        size_t n;
        if (sim_enterprise_collect(e, now, force, 100000, &s, &n) != 0)
            continue;
        if (!force && sim_plan_in_outage(&e->plan, now)) {
            if (n > 0 && sim_backlog_push(e, s, n) == 0)
                free(s); /* strings now owned by the back-log */
            else
                sim_samples_free(s, n);
            continue;
        }
        /* back-fill first, in time order, then the fresh samples */
        while (e->n_backlog > 0 && c->queued < MAX_QUEUED) {
            sim_sample *b;
            size_t bn;
            if (sim_backlog_take(e, c->o.max_batch, &b, &bn) != 0)
                break;
            emit(c, i, b, bn);
        }
        if (n > 0)
            emit(c, i, s, n);
        else
            free(s);
    }
}

/* ------------------------------------------------------------ timers */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sim_ctx *c = arg;
    if (!c->stopping)
        generate(c, 0);
    dispatch(c);
}

static void print_summary(struct sim_ctx *c, const char *tag)
{
    char ts[48];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    size_t backlog = 0;
    for (size_t i = 0; i < c->fleet.n_ents; i++)
        backlog += c->fleet.ents[i].n_backlog;
    printf("sim %s%s: sent=%lu acked=%lu retried=%lu failed=%lu readings_acked=%lu queued=%zu "
           "inflight=%zu backlog=%zu dropped=%lu\n",
           ts, tag, c->sent, c->acked, c->retried, c->failed, c->items_acked, c->queued,
           c->inflight, backlog, c->dropped);
    fflush(stdout);
}

static void summary_cb(evutil_socket_t fd, short what, void *arg)
{
    print_summary(arg, "");
}

static void begin_stop(struct sim_ctx *c)
{
    if (c->stopping) {
        event_base_loopbreak(c->base); /* second signal: leave now */
        return;
    }
    c->stopping = 1;
    /* drop what has not been sent yet; wait up to 15 s for in-flight ones */
    struct job *j;
    while ((j = dequeue(c)) != NULL)
        job_free(j);
    for (struct job *k = c->all, *next; k != NULL; k = next) {
        next = k->next_all;
        if (k->retry_ev != NULL && evtimer_pending(k->retry_ev, NULL) && !c->o.once) {
            c->failed++;
            job_free(k);
        }
    }
    struct timeval grace = {15, 0};
    event_base_loopexit(c->base, &grace);
    maybe_finish(c);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    begin_stop(arg);
}

/* ------------------------------------------------------------ setup */

static int parse_opts(int argc, char **argv, struct sim_opts *o)
{
    static const struct option longopts[] = {
        {"fleet", required_argument, NULL, 'f'},
        {"url", required_argument, NULL, 'u'},
        {"rate", required_argument, NULL, 'r'},
        {"speed", required_argument, NULL, 's'},
        {"duration", required_argument, NULL, 'd'},
        {"dialect", required_argument, NULL, 'D'},
        {"once", no_argument, NULL, 'o'},
        {"max-batch", required_argument, NULL, 'b'},
        {"seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->speed = 1.0;
    o->dialect = -1;
    o->max_batch = 2000;
    o->seed = 1;
    optind = 1;
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        errno = 0;
        switch (ch) {
        case 'f':
            o->fleet_path = optarg;
            break;
        case 'u':
            o->url = optarg;
            break;
        case 'r':
            o->rate = strtod(optarg, &end);
            if (*end || o->rate < 0)
                goto bad;
            break;
        case 's':
            o->speed = strtod(optarg, &end);
            if (*end || !(o->speed > 0 && o->speed <= 100000))
                goto bad;
            break;
        case 'd':
            o->duration_s = strtod(optarg, &end);
            if (*end || o->duration_s < 0)
                goto bad;
            break;
        case 'D':
            o->dialect = sim_dialect_parse(optarg);
            if (o->dialect < 0)
                goto bad;
            break;
        case 'o':
            o->once = 1;
            break;
        case 'b':
            o->max_batch = (size_t)strtoul(optarg, &end, 10);
            if (*end || o->max_batch == 0 || o->max_batch > 10000)
                goto bad;
            break;
        case 'S':
            o->seed = strtoull(optarg, &end, 10);
            if (*end || errno)
                goto bad;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sim: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if (o->fleet_path == NULL) {
        fprintf(stderr, "sim: --fleet FILE is required\n");
        usage(stderr);
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "sim: invalid value \"%s\"\n", optarg);
    return -1;
}

static int setup_target(struct sim_ctx *c, const char *url)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    if (u == NULL) {
        fprintf(stderr, "sim: cannot parse URL %s\n", url);
        return -1;
    }
    const char *scheme = evhttp_uri_get_scheme(u), *host = evhttp_uri_get_host(u);
    const char *path = evhttp_uri_get_path(u);
    int rc = 0;
    if (scheme == NULL || strcmp(scheme, "http") != 0 || host == NULL || *host == '\0') {
        fprintf(stderr, "sim: URL must be http://host[:port][/prefix]\n");
        rc = -1;
    } else {
        snprintf(c->host, sizeof c->host, "%s", host);
        c->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
        snprintf(c->prefix, sizeof c->prefix, "%s", path != NULL ? path : "");
        size_t l = strlen(c->prefix);
        while (l > 0 && c->prefix[l - 1] == '/')
            c->prefix[--l] = '\0';
    }
    evhttp_uri_free(u);
    return rc;
}

static void teardown(struct sim_ctx *c)
{
    c->shutting_down = 1;
    for (size_t i = 0; i < c->n_conns; i++)
        if (c->conns[i] != NULL)
            evhttp_connection_free(c->conns[i]);
    while (c->all != NULL)
        job_free(c->all);
    struct event *evs[] = {c->tick_ev, c->summary_ev, c->stop_ev, c->sig_int, c->sig_term};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    if (c->base != NULL)
        event_base_free(c->base);
    sim_fleet_free(&c->fleet);
    free(c->skip);
}

int sim_main(int argc, char **argv)
{
    struct sim_ctx ctx;
    struct sim_ctx *c = &ctx;
    memset(c, 0, sizeof *c);
    int rc = parse_opts(argc, argv, &c->o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    char err[256];
    if (sim_fleet_load(c->o.fleet_path, &c->fleet, err, sizeof err) != 0) {
        fprintf(stderr, "sim: %s\n", err);
        return 2;
    }
    const char *url = c->o.url != NULL ? c->o.url : c->fleet.ingest_url;
    int exit_code = 1;
    if (url == NULL) {
        fprintf(stderr, "sim: no --url and no ingest_url in the fleet file\n");
        exit_code = 2;
        goto out;
    }
    if (setup_target(c, url) != 0) {
        exit_code = 2;
        goto out;
    }
    c->skip = calloc(c->fleet.n_ents ? c->fleet.n_ents : 1, 1);
    size_t usable = 0;
    for (size_t i = 0; c->skip != NULL && i < c->fleet.n_ents; i++) {
        sim_enterprise *e = &c->fleet.ents[i];
        sim_dialect d = c->o.dialect >= 0 ? (sim_dialect)c->o.dialect : e->dialect;
        if (!sim_enterprise_can(e, d)) {
            fprintf(stderr, "sim: %s lacks credentials for dialect %s, skipped\n", e->code,
                    sim_dialect_name(d));
            c->skip[i] = 1;
        } else {
            usable++;
        }
    }
    if (c->skip == NULL || usable == 0) {
        fprintf(stderr, "sim: no usable enterprise in the fleet\n");
        exit_code = 2;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    c->base = event_base_new();
    if (c->base == NULL)
        goto out;
    c->n_conns = usable < N_CONNS ? usable : N_CONNS;
    for (size_t i = 0; i < c->n_conns; i++) {
        c->conns[i] = evhttp_connection_base_new(c->base, NULL, c->host, (unsigned short)c->port);
        if (c->conns[i] == NULL)
            goto out;
        evhttp_connection_set_timeout(c->conns[i], 15);
        evhttp_connection_set_retries(c->conns[i], 0);
    }
    c->real_start_us = real_now_us();
    c->last_refill_us = c->real_start_us;
    c->tokens = c->o.rate > 0 ? 1.0 : 0.0;
    double back_s = 0;
    if (c->o.speed > 1.0)
        back_s = c->o.duration_s > 0 ? c->o.duration_s * (c->o.speed - 1.0)
                                     : 3600.0 * (c->o.speed - 1.0);
    if (back_s > 7 * 86400.0)
        back_s = 7 * 86400.0;
    c->sim_start_us = c->real_start_us - (int64_t)(back_s * US_PER_S);
    sim_fleet_start(&c->fleet, c->sim_start_us, c->o.seed);
    sim_rng_seed(&c->jitter, c->o.seed ^ UINT64_C(0xa5a5a5a5));

    c->summary_ev = event_new(c->base, -1, EV_PERSIST, summary_cb, c);
    c->sig_int = evsignal_new(c->base, SIGINT, stop_cb, c);
    c->sig_term = evsignal_new(c->base, SIGTERM, stop_cb, c);
    struct timeval ten = {10, 0};
    if (c->summary_ev == NULL || c->sig_int == NULL || c->sig_term == NULL ||
        event_add(c->summary_ev, &ten) != 0 || event_add(c->sig_int, NULL) != 0 ||
        event_add(c->sig_term, NULL) != 0)
        goto out;
    printf("sim: %zu enterprise(s) -> http://%s:%d%s, speed %.3g, rate %s\n", usable, c->host,
           c->port, c->prefix, c->o.speed, c->o.rate > 0 ? "capped" : "unlimited");
    fflush(stdout);

    if (c->o.once) {
        generate(c, 1);
        c->stopping = 1; /* finish when every job is acked or failed */
        c->tick_ev = event_new(c->base, -1, EV_PERSIST, tick_cb, c);
        struct timeval t = {0, 200000};
        if (c->tick_ev == NULL || event_add(c->tick_ev, &t) != 0)
            goto out;
        dispatch(c);
        maybe_finish(c);
    } else {
        c->tick_ev = event_new(c->base, -1, EV_PERSIST, tick_cb, c);
        struct timeval t = {0, 200000};
        if (c->tick_ev == NULL || event_add(c->tick_ev, &t) != 0)
            goto out;
        if (c->o.duration_s > 0) {
            c->stop_ev = evtimer_new(c->base, stop_cb, c);
            struct timeval d = {
                (time_t)c->o.duration_s,
                (suseconds_t)((c->o.duration_s - (double)(time_t)c->o.duration_s) * 1e6)};
            if (c->stop_ev == NULL || evtimer_add(c->stop_ev, &d) != 0)
                goto out;
        }
        generate(c, 0);
        dispatch(c);
    }
    event_base_dispatch(c->base);
    print_summary(c, " final");
    exit_code = c->failed == 0 && c->live == 0 ? 0 : 1;
    if (!c->o.once && c->failed == 0)
        exit_code = 0; /* unsent work at a requested stop is not a failure */
out:
    teardown(c);
    return exit_code;
}
