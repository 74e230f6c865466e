// caf-savina: the Savina micro-benchmarks on the C++ Actor Framework 0.17,
// the peer of bench/savina/. bench/README.md defines each workload, the
// command line (BENCH [--threads N]) and the one-line JSON output. Each run_*
// function below implements one row of its tables.
//
// All actors are event-based and run on CAF's default work-stealing scheduler
// with its default max-throughput; only the scheduler's thread count is set.
// The main thread drives each benchmark through a scoped_actor. Where a run
// ends with every actor terminated (spawn), it waits on the actor registry
// instead. The main thread does no workload itself.

#include <caf/all.hpp>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

namespace {

using caf::actor;
using caf::behavior;
using caf::event_based_actor;
using caf::scoped_actor;
using caf::stateful_actor;
using steady = std::chrono::steady_clock;

// Message tags.
using start_atom = caf::atom_constant<caf::atom("start")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using next_atom = caf::atom_constant<caf::atom("next")>;
using token_atom = caf::atom_constant<caf::atom("token")>;
using increment_atom = caf::atom_constant<caf::atom("increment")>;
using retrieve_atom = caf::atom_constant<caf::atom("retrieve")>;
using work_atom = caf::atom_constant<caf::atom("work")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using count_atom = caf::atom_constant<caf::atom("count")>;

// Figures of one run, printed as the JSON line.
struct bench_result {
  const char* unit = "";
  uint64_t ops = 0;
  double elapsed_s = 0.0;
  bool check = false;

  // Set by footprint only.
  bool has_footprint = false;
  int64_t rss_growth_bytes = 0;
  double bytes_per_actor = 0.0;
};

double seconds_between(steady::time_point start, steady::time_point stop) {
  return std::chrono::duration<double>(stop - start).count();
}

// θ of Savina's performComputation(37.2). It is read through a volatile
// because GCC evaluates sin() of a constant at build time, which would leave
// no computation to run.
volatile double computation_theta = 37.2;

// Return r = sin(θ)², the per-message computation that bench/README.md
// defines. Callers add r to a per-actor accumulator that is read at the end.
double computation() {
  double s = std::sin(computation_theta);
  return s * s;
}

// Send an exit message to each actor. The actor_system destructor waits for
// every actor to terminate, so each run must stop what it spawned.
void stop_actors(const std::vector<actor>& actors) {
  for (const auto& target : actors)
    caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
}

// Request each actor's counter with count_atom, whose reply is one uint64_t.
// *counts receives one entry per actor, in order. Returns false if any
// request fails.
bool collect_counts(scoped_actor& self, const std::vector<actor>& actors,
                    std::vector<uint64_t>* counts) {
  bool ok = true;
  counts->clear();
  for (const auto& target : actors) {
    self->request(target, caf::infinite, count_atom::value)
      .receive([&](uint64_t count) { counts->push_back(count); },
               [&](caf::error&) { ok = false; });
  }
  return ok;
}

uint64_t sum_of(const std::vector<uint64_t>& values) {
  return std::accumulate(values.begin(), values.end(), uint64_t{0});
}

bool all_equal_to(const std::vector<uint64_t>& values, uint64_t expected) {
  for (uint64_t value : values)
    if (value != expected)
      return false;
  return true;
}

// -- sink: collects completion reports (big, fjthroughput) ------------------

struct sink_state {
  uint64_t reports = 0;
  uint64_t total = 0;
};

// Sum the counts carried by (done, count) reports. Once expected_reports have
// arrived, send (done, reports, total) to the driver.
behavior sink_actor(stateful_actor<sink_state>* self, uint64_t expected_reports,
                    actor driver) {
  return {
    [=](done_atom, uint64_t count) {
      auto& st = self->state;
      st.total += count;
      if (++st.reports == expected_reports)
        self->send(driver, done_atom::value, st.reports, st.total);
    },
  };
}

// -- pingpong ---------------------------------------------------------------

constexpr uint64_t pingpong_round_trips = 1000000;

struct ping_state {
  uint64_t pongs = 0;
};

// Reply to each ping with a pong. CAF sends a handler's return value back to
// the sender of the message.
behavior pong_actor(event_based_actor*) {
  return {
    [](ping_atom) { return pong_atom::value; },
  };
}

// Send the first ping on start and the next one on each pong. After the last
// round trip, report the number of pongs received to the driver.
behavior ping_actor(stateful_actor<ping_state>* self, actor pong, actor driver) {
  return {
    [=](start_atom) { self->send(pong, ping_atom::value); },
    [=](pong_atom) {
      auto& st = self->state;
      if (++st.pongs < pingpong_round_trips)
        self->send(pong, ping_atom::value);
      else
        self->send(driver, done_atom::value, st.pongs);
    },
  };
}

bench_result run_pingpong(caf::actor_system& sys) {
  scoped_actor self{sys};
  auto pong = sys.spawn(pong_actor);
  auto ping = sys.spawn(ping_actor, pong, actor{self});

  auto start = steady::now();
  self->send(ping, start_atom::value);
  uint64_t pongs = 0;
  self->receive([&](done_atom, uint64_t count) { pongs = count; });
  auto stop = steady::now();

  stop_actors({ping, pong});

  bench_result result;
  result.unit = "round trips";
  result.ops = pingpong_round_trips;
  result.elapsed_s = seconds_between(start, stop);
  result.check = pongs == pingpong_round_trips;
  return result;
}

// -- threadring -------------------------------------------------------------

constexpr size_t ring_actors = 503;
constexpr uint64_t ring_hops = 5000000;

struct ring_state {
  actor next;
  uint64_t hops = 0;
};

// Forward a token with count c > 0 to the successor as c - 1, counting the
// hop. The member that receives 0 reports completion to the driver.
behavior ring_actor(stateful_actor<ring_state>* self, actor driver) {
  return {
    [=](next_atom, actor next) { self->state.next = std::move(next); },
    [=](token_atom, uint64_t count) {
      auto& st = self->state;
      if (count == 0) {
        self->send(driver, done_atom::value);
        return;
      }
      ++st.hops;
      self->send(st.next, token_atom::value, count - 1);
    },
    [=](count_atom) { return self->state.hops; },
  };
}

bench_result run_threadring(caf::actor_system& sys) {
  scoped_actor self{sys};
  std::vector<actor> ring;
  for (size_t i = 0; i < ring_actors; ++i)
    ring.push_back(sys.spawn(ring_actor, actor{self}));

  // Close the ring before the clock starts. Each request returns once its
  // member has stored its successor.
  bool closed = true;
  for (size_t i = 0; i < ring_actors; ++i) {
    self->request(ring[i], caf::infinite, next_atom::value,
                  ring[(i + 1) % ring_actors])
      .receive([] {}, [&](caf::error&) { closed = false; });
  }

  auto start = steady::now();
  self->send(ring[0], token_atom::value, ring_hops);
  self->receive([](done_atom) {});
  auto stop = steady::now();

  std::vector<uint64_t> hops;
  bool counted = collect_counts(self, ring, &hops);
  stop_actors(ring);

  bench_result result;
  result.unit = "hops";
  result.ops = ring_hops;
  result.elapsed_s = seconds_between(start, stop);
  result.check = closed && counted && sum_of(hops) == ring_hops;
  return result;
}

// -- counting ---------------------------------------------------------------

constexpr uint64_t counting_increments = 10000000;

struct counter_state {
  uint64_t count = 0;
};

behavior counter_actor(stateful_actor<counter_state>* self) {
  return {
    [=](increment_atom) { ++self->state.count; },
    [=](retrieve_atom) { return self->state.count; },
  };
}

// On start, send all increments in one loop, then request the count and
// forward the reply to the driver.
behavior producer_actor(event_based_actor* self, actor counter, actor driver) {
  return {
    [=](start_atom) {
      for (uint64_t i = 0; i < counting_increments; ++i)
        self->send(counter, increment_atom::value);
      self->request(counter, caf::infinite, retrieve_atom::value)
        .then([=](uint64_t count) {
          self->send(driver, done_atom::value, count);
        });
    },
  };
}

bench_result run_counting(caf::actor_system& sys) {
  scoped_actor self{sys};
  auto counter = sys.spawn(counter_actor);
  auto producer = sys.spawn(producer_actor, counter, actor{self});

  auto start = steady::now();
  self->send(producer, start_atom::value);
  uint64_t count = 0;
  self->receive([&](done_atom, uint64_t value) { count = value; });
  auto stop = steady::now();

  stop_actors({producer, counter});

  bench_result result;
  result.unit = "increments";
  result.ops = counting_increments;
  result.elapsed_s = seconds_between(start, stop);
  result.check = count == counting_increments;
  return result;
}

// -- fjthroughput -----------------------------------------------------------

constexpr size_t fj_workers = 60;
constexpr uint64_t fj_messages_per_worker = 200000;

struct fj_worker_state {
  uint64_t handled = 0;
  double acc = 0.0;
};

// Run the computation once per message and report to the sink after the
// last one. count_atom returns (handled, accumulator) for the final check.
behavior fj_worker(stateful_actor<fj_worker_state>* self, actor sink) {
  return {
    [=](work_atom) {
      auto& st = self->state;
      st.acc += computation();
      if (++st.handled == fj_messages_per_worker)
        self->send(sink, done_atom::value, st.handled);
    },
    [=](count_atom) {
      return std::make_tuple(self->state.handled, self->state.acc);
    },
  };
}

// On start, send one message to each worker per round, workers 0 to 59 in
// turn, for all rounds.
behavior fj_driver(event_based_actor* self, std::vector<actor> workers) {
  return {
    [=](start_atom) {
      for (uint64_t round = 0; round < fj_messages_per_worker; ++round)
        for (const auto& worker : workers)
          self->send(worker, work_atom::value);
    },
  };
}

// Check that the worker handled exactly fj_messages_per_worker messages and
// that its accumulator contains one computation result per message. Summing n
// equal doubles drifts from n * r by about n * 2^-53 relative, far below the
// tolerance.
bool fj_worker_is_exact(uint64_t handled, double acc) {
  double expected = static_cast<double>(handled) * computation();
  return handled == fj_messages_per_worker &&
         std::fabs(acc - expected) <= 1e-9 * expected;
}

bench_result run_fjthroughput(caf::actor_system& sys) {
  scoped_actor self{sys};
  auto sink = sys.spawn(sink_actor, uint64_t{fj_workers}, actor{self});
  std::vector<actor> workers;
  for (size_t i = 0; i < fj_workers; ++i)
    workers.push_back(sys.spawn(fj_worker, sink));
  auto driver = sys.spawn(fj_driver, workers);

  auto start = steady::now();
  self->send(driver, start_atom::value);
  uint64_t reports = 0;
  uint64_t total = 0;
  self->receive([&](done_atom, uint64_t report_count, uint64_t sum) {
    reports = report_count;
    total = sum;
  });
  auto stop = steady::now();

  // Read each worker's final state after the clock has stopped, so a message
  // handled after the report would still fail the check.
  bool exact = true;
  for (const auto& worker : workers) {
    self->request(worker, caf::infinite, count_atom::value)
      .receive(
        [&](uint64_t handled, double acc) {
          exact = exact && fj_worker_is_exact(handled, acc);
        },
        [&](caf::error&) { exact = false; });
  }
  stop_actors(workers);
  stop_actors({driver, sink});

  bench_result result;
  result.unit = "messages";
  result.ops = fj_workers * fj_messages_per_worker;
  result.elapsed_s = seconds_between(start, stop);
  result.check = exact && reports == fj_workers && total == result.ops;
  return result;
}

// -- spawn ------------------------------------------------------------------

constexpr uint64_t spawn_actors = 1000000;

struct spawned_state {
  double acc = 0.0;
};

// Run the computation on the one message, count this actor done and
// terminate.
behavior spawned_actor(stateful_actor<spawned_state>* self,
                       std::atomic<uint64_t>* done) {
  return {
    [=](work_atom) {
      self->state.acc += computation();
      // The accumulator is read here so the computation stays live. Since
      // sin(37.2)^2 > 0, every actor counts itself.
      if (self->state.acc > 0.0)
        done->fetch_add(1, std::memory_order_relaxed);
      self->quit();
    },
  };
}

// On start, spawn the actors one after another, send each its message, then
// terminate.
//
// NOTE: with two or more scheduler threads, CAF 0.17's work stealing rather
// than spawning dominates this figure. self->spawn() puts each child at the
// front of this worker's queue. A thief's take_tail() (in
// caf/detail/double_ended_queue.hpp) walks that singly linked queue from the
// front to find the new tail while it holds both queue locks, so each steal
// costs time linear in the up to 1,000,000 queued children. On a 2-core
// machine this program took 1.9 s at --threads 1 and 20 s to 490 s at
// --threads 2. The workload requires the driver actor to spawn every child,
// so the figure keeps this cost.
behavior spawn_driver(event_based_actor* self, std::atomic<uint64_t>* done) {
  return {
    [=](start_atom) {
      for (uint64_t i = 0; i < spawn_actors; ++i) {
        auto child = self->spawn(spawned_actor, done);
        self->send(child, work_atom::value);
      }
      self->quit();
    },
  };
}

bench_result run_spawn(caf::actor_system& sys) {
  std::atomic<uint64_t> done{0};
  auto driver = sys.spawn(spawn_driver, &done);

  // This run has no scoped_actor because a scoped_actor counts as a running
  // actor. await_all_actors_done() returns once no actor is running, that is
  // after the driver and every spawned actor have terminated. The registry's
  // mutex orders the relaxed increments before the load below.
  auto start = steady::now();
  caf::anon_send(driver, start_atom::value);
  sys.await_all_actors_done();
  auto stop = steady::now();

  bench_result result;
  result.unit = "actors";
  result.ops = spawn_actors;
  result.elapsed_s = seconds_between(start, stop);
  result.check = done.load(std::memory_order_relaxed) == spawn_actors;
  return result;
}

// -- big --------------------------------------------------------------------

constexpr size_t big_actors = 1000;
constexpr uint64_t big_pongs_per_actor = 20000;

struct big_state {
  uint64_t rng = 0;
  uint64_t pongs = 0;
};

// Advance a xorshift64 generator (Marsaglia 2003, shifts 13, 7, 17) and
// return its new state.
uint64_t xorshift64(uint64_t* state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}

// Ping a random peer on start and on each pong until big_pongs_per_actor pongs
// have arrived, then report to the sink. Each ping from another actor gets a
// pong in reply, also after the report. peers is filled by the
// driver after all spawns but before any start message, and no handler reads
// it before that message.
behavior big_actor(stateful_actor<big_state>* self, uint64_t index,
                   std::shared_ptr<const std::vector<actor>> peers, actor sink) {
  self->state.rng = index + 1;
  auto ping_random_peer = [=] {
    uint64_t pick = xorshift64(&self->state.rng) % big_actors;
    self->send((*peers)[pick], ping_atom::value);
  };
  return {
    [=](start_atom) { ping_random_peer(); },
    [](ping_atom) { return pong_atom::value; },
    [=](pong_atom) {
      auto& st = self->state;
      if (++st.pongs < big_pongs_per_actor)
        ping_random_peer();
      else
        self->send(sink, done_atom::value, st.pongs);
    },
    [=](count_atom) { return self->state.pongs; },
  };
}

bench_result run_big(caf::actor_system& sys) {
  scoped_actor self{sys};
  auto sink = sys.spawn(sink_actor, uint64_t{big_actors}, actor{self});
  auto peers = std::make_shared<std::vector<actor>>();
  peers->reserve(big_actors);
  for (size_t i = 0; i < big_actors; ++i)
    peers->push_back(sys.spawn(big_actor, uint64_t{i}, peers, sink));

  auto start = steady::now();
  for (const auto& peer : *peers)
    self->send(peer, start_atom::value);
  uint64_t reports = 0;
  uint64_t total = 0;
  self->receive([&](done_atom, uint64_t report_count, uint64_t sum) {
    reports = report_count;
    total = sum;
  });
  auto stop = steady::now();

  std::vector<uint64_t> pongs;
  bool counted = collect_counts(self, *peers, &pongs);
  stop_actors(*peers);
  stop_actors({sink});

  bench_result result;
  result.unit = "messages";
  result.ops = 2 * big_actors * big_pongs_per_actor;
  result.elapsed_s = seconds_between(start, stop);
  result.check = counted && all_equal_to(pongs, big_pongs_per_actor) &&
                 reports == big_actors &&
                 total == big_actors * big_pongs_per_actor;
  return result;
}

// -- footprint --------------------------------------------------------------

constexpr uint64_t footprint_actors = 1000000;

struct idle_state {
  int64_t value = 0;
};

// Count the actor as initialized and wait for a message.
behavior idle_actor(stateful_actor<idle_state>* self,
                    std::atomic<uint64_t>* initialized) {
  initialized->fetch_add(1, std::memory_order_relaxed);
  return {
    [=](int64_t value) { self->state.value = value; },
  };
}

// Return the resident set size in bytes, from the second field of
// /proc/self/statm (resident pages), or -1 if it cannot be read.
int64_t resident_bytes() {
  FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr)
    return -1;
  unsigned long long total_pages = 0;
  unsigned long long resident_pages = 0;
  int fields = std::fscanf(statm, "%llu %llu", &total_pages, &resident_pages);
  std::fclose(statm);
  if (fields != 2)
    return -1;
  return static_cast<int64_t>(resident_pages) * sysconf(_SC_PAGESIZE);
}

bench_result run_footprint(caf::actor_system& sys) {
  // The handle array is allocated and zeroed before the first reading, so
  // its 8 bytes per actor do not count as actor memory.
  std::vector<actor> actors(footprint_actors);
  std::atomic<uint64_t> initialized{0};
  int64_t rss_before = resident_bytes();

  // CAF initializes a spawned actor on a worker thread, so the reading waits
  // until every actor has built its behavior. The poll adds up to 1 ms to
  // elapsed_s.
  auto start = steady::now();
  for (auto& slot : actors)
    slot = sys.spawn(idle_actor, &initialized);
  while (initialized.load(std::memory_order_relaxed) < footprint_actors)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto stop = steady::now();
  int64_t rss_after = resident_bytes();

  stop_actors(actors);
  actors.clear();
  sys.await_all_actors_done();

  bench_result result;
  result.unit = "actors";
  result.ops = footprint_actors;
  result.elapsed_s = seconds_between(start, stop);
  result.check = rss_before >= 0 && rss_after >= 0 &&
                 initialized.load(std::memory_order_relaxed) == footprint_actors;
  result.has_footprint = true;
  result.rss_growth_bytes = rss_after - rss_before;
  result.bytes_per_actor = static_cast<double>(result.rss_growth_bytes) /
                           static_cast<double>(footprint_actors);
  return result;
}

// -- command line and output ------------------------------------------------

struct bench_entry {
  const char* name;
  bench_result (*run)(caf::actor_system&);
};

const bench_entry benches[] = {
  {"pingpong", run_pingpong},   {"threadring", run_threadring},
  {"counting", run_counting},   {"fjthroughput", run_fjthroughput},
  {"spawn", run_spawn},         {"big", run_big},
  {"footprint", run_footprint},
};

const bench_entry* find_bench(const char* name) {
  for (const auto& entry : benches)
    if (std::strcmp(entry.name, name) == 0)
      return &entry;
  return nullptr;
}

void print_usage() {
  std::fprintf(stderr,
               "usage: caf-savina BENCH [--threads N]\n"
               "  BENCH        pingpong, threadring, counting, fjthroughput,"
               " spawn, big or footprint\n"
               "  --threads N  scheduler worker threads, N >= 1"
               " (default: number of online CPUs)\n");
}

// Parse a positive thread count. Returns 0 if text is not one.
size_t parse_threads(const char* text) {
  if (!std::isdigit(static_cast<unsigned char>(text[0])))
    return 0;
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0')
    return 0;
  return static_cast<size_t>(value);
}

void print_result(const char* bench, size_t threads,
                  const bench_result& result) {
  std::printf("{\"system\":\"caf\",\"bench\":\"%s\",\"threads\":%zu,"
              "\"ops\":%" PRIu64 ",\"unit\":\"%s\",\"elapsed_s\":%.6f",
              bench, threads, result.ops, result.unit, result.elapsed_s);
  if (result.has_footprint)
    std::printf(",\"rss_growth_bytes\":%" PRId64 ",\"bytes_per_actor\":%.1f",
                result.rss_growth_bytes, result.bytes_per_actor);
  std::printf(",\"check\":%s}\n", result.check ? "true" : "false");
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    print_usage();
    return 2;
  }
  const bench_entry* bench = find_bench(argv[1]);
  if (bench == nullptr) {
    std::fprintf(stderr, "caf-savina: unknown benchmark '%s'\n", argv[1]);
    print_usage();
    return 2;
  }
  size_t threads = std::thread::hardware_concurrency();
  if (argc == 4) {
    threads = std::strcmp(argv[2], "--threads") == 0 ? parse_threads(argv[3])
                                                     : 0;
    if (threads == 0) {
      std::fprintf(stderr, "caf-savina: invalid option '%s %s'\n", argv[2],
                   argv[3]);
      print_usage();
      return 2;
    }
  }
  if (threads == 0)
    threads = 1; // hardware_concurrency() returns 0 if the count is unknown.

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", threads);
  bench_result result;
  {
    caf::actor_system sys{cfg};
    result = bench->run(sys);
  } // The destructor waits until every actor has terminated.

  print_result(bench->name, threads, result);
  return result.check ? 0 : 1;
}
