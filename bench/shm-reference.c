// The yardstick for `bun bench shm`: the same hop as the TypeScript ring, written plainly in C.
// 64-byte slots with a per-slot seqlock word, one writer woken every 1 ms to write the records
// that are due, each stamped with CLOCK_REALTIME as it is published; one reader in another
// process busy-polling up to 64 records per poll and reading the clock once per poll. The writer
// maps the file prefaulted, as the ring's writer does. What the box costs (scheduler, caches,
// timers) shows here too; what is left over in the TypeScript figures is ours.
//
// usage: shm-reference FILE RECORDS WARMUP RATE_PER_S
// prints one JSON line: count, lost, p50_us, p90_us, p99_us, p999_us, max_us, and the tail's
// shape as bench/stats.ts tailShape gives it for the ring (hist, stalls, stalled)
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAPACITY 65536 /* slots, as the TypeScript bench's ring */
#define POLL_MAX 64
#define STALL_US 20 /* as bench/stats.ts STALL_US */

struct slot {
  _Atomic int32_t version; /* odd while the writer is inside */
  uint8_t type, flags;
  uint16_t symbol;
  int64_t seq, price, size;
  uint32_t exchange_sec, exchange_nsec, receive_sec, receive_nsec, publish_sec, publish_nsec;
  int64_t aux;
};
_Static_assert(sizeof(struct slot) == 64, "one slot is one cache line");

struct ring {
  _Alignas(64) _Atomic int64_t next_seq; /* the writer's committed cursor, as in the real header */
  _Alignas(64) struct slot slots[CAPACITY];
};

/** Each process maps the file itself, as the writer and a reader of a real ring do. */
static struct ring *map_ring(const char *path, int prefault) {
  int fd = open(path, O_RDWR);
  if (fd < 0) {
    perror(path);
    exit(1);
  }
  void *at = mmap(NULL, sizeof(struct ring), PROT_READ | PROT_WRITE, MAP_SHARED | (prefault ? MAP_POPULATE : 0), fd, 0);
  if (at == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  close(fd);
  return at;
}

static double monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static void write_record(struct ring *ring, int64_t seq) {
  struct slot *s = &ring->slots[seq & (CAPACITY - 1)];
  int32_t v = atomic_load_explicit(&s->version, memory_order_relaxed);
  atomic_store(&s->version, v + 1);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  s->type = 1;
  s->flags = 2;
  s->symbol = 0;
  s->seq = seq;
  s->price = 6500000;
  s->size = 1000;
  s->exchange_sec = s->exchange_nsec = 0;
  s->receive_sec = s->receive_nsec = 0;
  s->publish_sec = (uint32_t)now.tv_sec;
  s->publish_nsec = (uint32_t)now.tv_nsec;
  s->aux = seq;
  atomic_store(&s->version, v + 2);
  atomic_store_explicit(&ring->next_seq, seq + 1, memory_order_release);
}

static void run_writer(struct ring *ring, long total, long rate) {
  double start = monotonic_ns();
  long written = 0;
  struct timespec tick = {0, 1000000};
  while (written < total) {
    long due = (long)((monotonic_ns() - start) * rate / 1e9);
    if (due > total) due = total;
    while (written < due) write_record(ring, ++written);
    nanosleep(&tick, NULL);
  }
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void run_reader(struct ring *ring, long total, long warmup, int ready_fd) {
  double *samples = malloc(sizeof(double) * (size_t)total);
  for (long i = 0; i < total; i++) samples[i] = 1; /* its pages fault in now, not while measuring */
  uint32_t sec[POLL_MAX], nsec[POLL_MAX];
  long seen = 0, lost = 0, n = 0;
  int64_t next = 1;
  if (write(ready_fd, "r", 1) != 1) exit(1);
  close(ready_fd);
  while (seen + lost < total) {
    int got = 0;
    while (got < POLL_MAX) {
      struct slot *s = &ring->slots[next & (CAPACITY - 1)];
      int32_t before = atomic_load_explicit(&s->version, memory_order_acquire);
      if (before & 1) break;
      struct slot copy; /* the whole record, as a reader that hands records on copies it */
      memcpy((char *)&copy + 4, (const char *)s + 4, sizeof copy - 4);
      atomic_thread_fence(memory_order_acquire);
      if (atomic_load_explicit(&s->version, memory_order_relaxed) != before) continue;
      if (copy.seq < next) break;
      if (copy.seq > next) { /* lapped: skip to the oldest record the writer is not about to reuse */
        int64_t resume = copy.seq - CAPACITY + 2 > next + 1 ? copy.seq - CAPACITY + 2 : next + 1;
        lost += resume - next;
        next = resume;
        continue;
      }
      sec[got] = copy.publish_sec;
      nsec[got++] = copy.publish_nsec;
      next++;
    }
    if (got == 0) continue;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (int i = 0; i < got; i++) {
      if (seen++ >= warmup) samples[n++] = ((double)now.tv_sec - sec[i]) * 1e9 + ((double)now.tv_nsec - nsec[i]);
    }
  }
  /* The tail's shape, as bench/stats.ts tailShape computes it for the ring: before sorting. */
  static const double bounds[] = {0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 1000, 10000};
  enum { BUCKETS = sizeof bounds / sizeof bounds[0] };
  long hist[BUCKETS + 1] = {0}, stalls = 0, stalled = 0;
  int in_stall = 0;
  for (long i = 0; i < n; i++) {
    double us = samples[i] / 1000;
    int b = 0;
    while (b < BUCKETS && us > bounds[b]) b++;
    hist[b]++;
    int slow = us > STALL_US;
    stalls += slow && !in_stall;
    stalled += slow;
    in_stall = slow;
  }
  qsort(samples, (size_t)n, sizeof(double), by_value);
#define AT(q) (n == 0 ? 0.0 : samples[(long)((q) * n) < n ? (long)((q) * n) : n - 1] / 1000.0)
  printf("{\"count\":%ld,\"lost\":%ld,\"p50_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f,\"hist\":[",
         n, lost, AT(0.5), AT(0.9), AT(0.99), AT(0.999), AT(1.0));
  for (int b = 0; b <= BUCKETS; b++) printf("%s%ld", b ? "," : "", hist[b]);
  printf("],\"stalls\":%ld,\"stalled\":%ld}\n", stalls, stalled);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s FILE RECORDS WARMUP RATE_PER_S\n", argv[0]);
    return 2;
  }
  const char *path = argv[1];
  long total = atol(argv[2]), warmup = atol(argv[3]), rate = atol(argv[4]);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, sizeof(struct ring)) != 0) {
    perror(path);
    return 1;
  }
  close(fd);
  struct ring *writer_map = map_ring(path, 1); /* before the reader opens it, as in the bench */
  int ready[2];
  if (pipe(ready) != 0) return 1;
  pid_t reader = fork();
  if (reader == 0) {
    close(ready[0]);
    munmap(writer_map, sizeof(struct ring));
    run_reader(map_ring(path, 0), total, warmup, ready[1]);
    return 0;
  }
  close(ready[1]);
  char byte;
  if (read(ready[0], &byte, 1) != 1) return 1;
  run_writer(writer_map, total, rate);
  int status = 0;
  waitpid(reader, &status, 0);
  unlink(path);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
