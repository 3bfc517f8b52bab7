#!/usr/bin/python3
"""The data-parallel benchmark: samples per second at 1 and 2 ranks against
PyTorch, every ratio from one run (tests/bench/README.md, "Data parallel").

    mpi_bench.py --netc NETC --work DIR [--rounds R] [--seconds S] [--cc CC] [--vector-width W]

For each model of MODELS (batch B per rank, plain SGD, MSE on a teacher's
targets) it builds the generated C once, as tests/bench/loops.py does
(`netc --vector-width=W`, W = 16 with AVX-512, then
`CC -std=c11 -O3 -march=native -ffp-contract=off`), into
  * netc plain: the plain trainer (NAME_train, one process);
  * netc plain x2: two plain trainers at once, each on its own: what two
    processes can do on this machine with no communication at all, the
    bound of any data-parallel run here;
  * netc 1 rank, netc 2 ranks: the --mpi trainer (libnetrt_mpi.a) under
    `mpirun -np 1` and `-np 2`: per global step NAME_grad, the fixed-order
    sum, NAME_apply;
and runs PyTorch at the same global batch, on OpenBLAS (OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset for its commands only; the table names the kernel):
  * torch 2 threads, OpenBLAS 2: one process, batch 2B,
    torch.set_num_threads(2), OPENBLAS_NUM_THREADS=2 (the issue's setup);
  * torch 2 threads, OpenBLAS 1, and torch 1 thread, OpenBLAS 2: the same
    with one of the two thread pools single-threaded (torch's OpenMP threads
    and OpenBLAS's threads both spin while they wait: four on two CPUs
    starve each other);
  * torch DDP gloo 2: DistributedDataParallel, 2 processes of batch B, one
    thread (and one OpenBLAS thread) each.
"vs faster PyTorch" compares with the fastest of these in the same round.

Timing.  Every variant runs whole epochs of the trainer's real loop (each
epoch shuffles and copies the data, as the trainer and PyTorch's loop both
do), and only the epochs are timed: netc's trainers write their --log rows
into a FIFO that this script reads, stamping each row as it arrives (the
runtime flushes a row after each epoch; under MPI rank 0 writes it, and the
ranks are in step); PyTorch's script stamps its own epochs.  Start-up
(mpirun, MPI_Init, loading the data, the loss before training) and the first
epoch (page faults) are outside the time; a run's rate is the samples of an
epoch over its fastest epoch's time: on a machine shared with other work,
load only ever adds time, and a burst of it then costs the epochs it hits,
not the run.  The epochs a run trains are chosen in a
warm-up round so that it trains about S seconds (default 2).  Each variant
runs once a round, in an order that rotates; the table shows the median of
the rounds, and each ratio is the median of the ratios within a round.

Every round also measures peak.c (the FMA peak) in one process and in two at
once, and the share of the two CPUs that processes other than this
benchmark's used during the round (from /proc/stat and the children's
rusage): the load that makes a round worth rerunning.  Prints markdown."""
import argparse
import os
import resource
import select
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'runtime')
PY = '/usr/bin/python3'
WINDOW = 0.05  # seconds: the shortest time span measured
# (title, layer widths, batch per rank, samples)
MODELS = [
    ('5-3-1 relu (reference), batch 1', [5, 3, 1], 1, 1 << 14),
    ('784-128-10 tanh, batch 256', [784, 128, 10], 256, 1 << 14),
    ('32-64-64-64-1 tanh, batch 1024', [32, 64, 64, 64, 1], 1024, 1 << 16),
]
# PyTorch at the global batch 2B: (torch threads, OpenBLAS threads) of one
# process, or None for DistributedDataParallel (2 processes, 1 and 1 each).
TORCH_VARIANTS = {'torch 2 threads, OpenBLAS 2': (2, 2), 'torch 2 threads, OpenBLAS 1': (2, 1),
                  'torch 1 thread, OpenBLAS 2': (1, 2), 'torch DDP gloo 2': None}
VARIANTS = ['netc plain', 'netc plain x2', 'netc 1 rank', 'netc 2 ranks'] + list(TORCH_VARIANTS)
OMPI_ENV = {'OMPI_MCA_btl': 'self,vader', 'OMPI_MCA_btl_vader_single_copy_mechanism': 'none',
            'OMPI_MCA_plm': 'isolated', 'OMPI_MCA_rmaps_base_oversubscribe': '1',
            'OMPI_MCA_hwloc_base_binding_policy': 'none'}
MPI_MAIN = ('#include "netrt.h"\n\nextern const netrt_model m_model;\n\n'
            'int main(int argc, char **argv) { return netrt_mpi_main(&m_model, argc, argv); }\n')


def yaml_text(widths, batch):
    relu = widths == [5, 3, 1]
    layers = ''.join('  - {linear: %d, activation: %s}\n'
                     % (w, 'relu' if relu else 'tanh' if i < len(widths) - 2 else 'identity')
                     for i, w in enumerate(widths[1:]))
    return 'name: m\ninput: %d\nlayers:\n%sloss: mse\noptimizer:\n  sgd: {lr: 0.01}\nbatch: %d\n' % (
        widths[0], layers, batch)


TORCH = r'''
import ctypes, os, sys, time
import numpy as np, torch
from torch import nn
widths = [int(w) for w in sys.argv[2].split(',')]
batch, epochs, max_steps, mode = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
relu = widths == [5, 3, 1]
def net():
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if relu or i < len(widths) - 2:
            layers.append(nn.ReLU() if relu else nn.Tanh())
    return nn.Sequential(*layers)
a = np.load(sys.argv[1])
x = torch.from_numpy(a[:, :widths[0]].copy()); t = torch.from_numpy(a[:, widths[0]:].copy())
def run(model, rank, size):
    """The tutorial's loop over shuffled batches, epoch after epoch: the
    times of the epochs and the samples of one (global steps x global batch)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01); loss_fn = nn.MSELoss()
    g = batch * size; steps = min(len(x) // g, max_steps)
    times = []
    for e in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(e))
        for k in range(steps):
            idx = perm[k * g + rank * batch:k * g + (rank + 1) * batch]
            loss = loss_fn(model(x[idx]), t[idx])
            opt.zero_grad(); loss.backward(); opt.step()
        times.append(time.perf_counter() - start)
    return times, steps * g
if mode == 'threads':  # threads THREADS
    torch.set_num_threads(int(sys.argv[7]))
    batch *= 2
    times, samples = run(net(), 0, 1)
else:  # ddp RANK PORT: one of the two processes, launched by mpi_bench.py
    import torch.distributed as dist
    rank = int(sys.argv[7])
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method='tcp://127.0.0.1:' + sys.argv[8], rank=rank, world_size=2)
    torch.manual_seed(0)
    times, samples = run(nn.parallel.DistributedDataParallel(net()), rank, 2)
    dist.destroy_process_group()
if mode == 'threads' or rank == 0:
    print('samples', samples)
    print('epochs', ' '.join('%.9f' % s for s in times))
    core = 'unknown'
    with open('/proc/self/maps') as f:  # the BLAS torch loaded
        libs = sorted({l.split()[-1] for l in f if 'blas' in l.split()[-1]})
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            core = 'OpenBLAS %s, %s (%s)' % (lib.openblas_get_corename().decode(),
                                            lib.openblas_get_config().decode(), os.path.realpath(path))
            break
        except (OSError, AttributeError):
            pass
    else:
        core = ' '.join(libs) or core
    print('blas', core)
    print('torch', torch.__version__)
'''


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env)
    if p.returncode != 0:
        sys.exit('mpi_bench.py: %s failed:\n%s' % (' '.join(cmd), p.stdout))
    return p.stdout


def logged(jobs, env):
    """Runs the commands of jobs [(cmd, fifo)] at once, each writing its --log
    rows into its FIFO; returns per job the list of (time, step) of its rows
    (epoch 0, the loss before training, first)."""
    fds, procs, rows, buf, seen = {}, [], [], {}, set()
    for i, (cmd, fifo) in enumerate(jobs):
        if os.path.exists(fifo):
            os.unlink(fifo)
        os.mkfifo(fifo)
        fds[os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)] = i
        rows.append([])
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      universal_newlines=True))
    open_fds = set(fds)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 0.05)
        stamp = time.perf_counter()
        for fd in ready:
            data = os.read(fd, 65536)
            if not data:
                if fd in seen:  # the writer closed its end: the run is over
                    open_fds.discard(fd)
                else:  # no writer yet: a FIFO without one reads as empty
                    time.sleep(0.001)
                continue
            seen.add(fd)
            text = buf.get(fd, b'') + data
            *lines, buf[fd] = text.split(b'\n')
            for line in lines:
                f = line.decode().split(',')
                if f[0].isdigit():  # not the header
                    rows[fds[fd]].append((stamp, int(f[1])))
        for fd in list(open_fds):
            if fd not in seen and procs[fds[fd]].poll() is not None:
                open_fds.discard(fd)  # it stopped before opening its log
    for fd in fds:
        os.close(fd)
    for (cmd, fifo), p in zip(jobs, procs):
        err = p.communicate()[1]
        os.unlink(fifo)
        if p.returncode != 0:
            sys.exit('mpi_bench.py: %s failed (exit %d):\n%s' % (' '.join(cmd), p.returncode, err))
    return rows


def rate(times, samples):
    """Samples per second and seconds an epoch, from the epochs' times: the
    fastest epoch but the first (other load only ever adds time)."""
    t = min(times[1:] if len(times) > 1 else times)
    return samples / t, t


def netc_rate(rows, global_batch):
    """rate() of a trainer's --log rows (time, step).  Epochs shorter than
    WINDOW are timed in runs of consecutive epochs that last at least that
    long: rows that arrive in one read share its time."""
    if len(rows) < 3:
        sys.exit('mpi_bench.py: a trainer logged %d rows, expected at least 3' % len(rows))
    times, j = [], 1
    for i in range(len(rows)):
        while j < len(rows) and (j <= i or rows[j][0] - rows[i][0] < WINDOW):
            j += 1
        if j == len(rows):
            break
        times.append((rows[j][0] - rows[i][0]) / (j - i))
    if not times:  # a run shorter than WINDOW (the warm-up's): its mean epoch
        times = [max(rows[-1][0] - rows[0][0], 1e-6) / (len(rows) - 1)] * 2
    return rate(times, (rows[1][1] - rows[0][1]) * global_batch)


def cpu_busy():
    """Jiffies the CPUs were busy (all of /proc/stat's cpu line but idle and iowait)."""
    with open('/proc/stat') as f:
        v = [int(w) for w in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def own_cpu():
    """Seconds of CPU this script and its finished children used."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def vector_width():
    with open('/proc/cpuinfo') as f:
        flags = next((line.split() for line in f if line.startswith('flags')), [])
    return 16 if 'avx512f' in flags else 8 if 'avx2' in flags else 4


def cpu_name():
    with open('/proc/cpuinfo') as f:
        info = dict((k.strip(), v.strip()) for k, v in (line.split(':', 1) for line in f if ':' in line))
    return '%s (%s family %s model %s), %d CPUs' % (info.get('model name', '?').strip(),
                                                    info.get('vendor_id', '?').strip(),
                                                    info.get('cpu family', '?').strip(),
                                                    info.get('model', '?').strip(), os.cpu_count())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--netc', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--cc', default='cc')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--seconds', type=float, default=2.0, help='training time of one run')
    ap.add_argument('--vector-width', type=int, default=0, help='default: 16 with AVX-512, 8 with AVX2, else 4')
    ap.add_argument('--only', default='', help='models whose title starts with this, e.g. 784')
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    width = args.vector_width or vector_width()
    build = os.path.dirname(os.path.dirname(os.path.abspath(args.netc)))
    lib, mpilib = (os.path.join(build, 'runtime', n) for n in ('libnetrt.a', 'libnetrt_mpi.a'))
    if not os.path.exists(mpilib):
        sys.exit('mpi_bench.py: no %s (CMake found no MPI when netc was built)' % mpilib)
    cflags = ['-std=c11', '-O3', '-march=native', '-ffp-contract=off', '-I' + RUNTIME]
    env = dict(os.environ, **OMPI_ENV)
    mpi_env = dict(env, OMPI_CC=shlex.split(args.cc)[0])
    mpirun = ['mpirun', '--oversubscribe'] + (['--allow-run-as-root'] if os.geteuid() == 0 else [])
    tenv = {k: v for k, v in os.environ.items() if k not in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')}
    for blas in ('/usr/lib/x86_64-linux-gnu/openblas-pthread', '/usr/lib/aarch64-linux-gnu/openblas-pthread'):
        if os.path.isdir(blas):
            tenv['LD_LIBRARY_PATH'] = blas
    torch_py = os.path.join(args.work, 'torch_mpi.py')
    with open(torch_py, 'w') as f:
        f.write(TORCH)
    have_torch = subprocess.call([PY, '-c', 'import torch'], stderr=subprocess.DEVNULL) == 0
    peak = os.path.join(args.work, 'peak')
    run(shlex.split(args.cc) + ['-O2', '-march=native', os.path.join(HERE, 'peak.c'), '-o', peak])
    main_c = os.path.join(args.work, 'mpi_main.c')
    with open(main_c, 'w') as f:
        f.write(MPI_MAIN)

    models = []
    for title, widths, batch, n in MODELS:
        if args.only and not title.startswith(args.only):
            continue
        d = os.path.join(args.work, 'm%d' % len(models))
        os.makedirs(d, exist_ok=True)
        yaml, c, data = (os.path.join(d, f) for f in ('m.yaml', 'm.c', 'd.npy'))
        with open(yaml, 'w') as f:
            f.write(yaml_text(widths, batch))
        run([PY, '-c', 'import numpy as np; r = np.random.default_rng(1); '
             'x = r.standard_normal((%d, %d)).astype("<f4"); '
             'np.save("%s", np.hstack([x, np.tanh(x[:, :%d] * 0.3)]).astype("<f4"))'
             % (n, widths[0], data, widths[-1])])
        run([args.netc, '--vector-width=%d' % width, yaml, '-o', c])
        schedule = next((line.split(':', 1)[1].strip() for line in
                         run([args.netc, '--report', '--vector-width=%d' % width, yaml]).splitlines()
                         if line.startswith('schedule:')), '?')
        plain, mpi = os.path.join(d, 'plain'), os.path.join(d, 'mpi')
        run(shlex.split(args.cc) + cflags + ['-DNETC_TRAINER', c, lib, '-lm', '-o', plain])
        run(['mpicc'] + shlex.split(args.cc)[1:] + cflags + ['-DNETC_RUNTIME', main_c, c, mpilib, lib, '-lm',
                                                             '-o', mpi], env=mpi_env)
        models.append(dict(title=title, widths=widths, batch=batch, data=data, dir=d, plain=plain, mpi=mpi,
                           schedule=schedule, epochs={}, res={v: [] for v in VARIANTS}))
        print('built %s (schedule: %s)' % (title, schedule), file=sys.stderr, flush=True)

    port = [29500 + os.getpid() % 1000]
    info = {}

    def measure(m, name, epochs):
        """One run of variant name on model m for epochs epochs: samples/s and
        seconds an epoch."""
        b, data = m['batch'], m['data']

        def trainer(exe, k):
            return [exe, '--data', data, '--epochs', str(epochs), '--quiet', '--log',
                    os.path.join(m['dir'], 'log%d.fifo' % k)]
        if name == 'netc plain':
            return netc_rate(logged([(trainer(m['plain'], 0), trainer(m['plain'], 0)[-1])], env)[0], b)
        if name == 'netc plain x2':
            jobs = [(trainer(m['plain'], k), trainer(m['plain'], k)[-1]) for k in (0, 1)]
            r = [netc_rate(r, b) for r in logged(jobs, env)]
            return sum(a for a, _ in r), max(t for _, t in r)
        if name in ('netc 1 rank', 'netc 2 ranks'):
            np_ = 1 if name == 'netc 1 rank' else 2
            cmd = mpirun + ['-np', str(np_)] + trainer(m['mpi'], 0)
            return netc_rate(logged([(cmd, cmd[-1])], env)[0], b * np_)
        threads = TORCH_VARIANTS[name]
        e2 = dict(tenv, OPENBLAS_NUM_THREADS=str(threads[1] if threads else 1))
        cmd = [PY, torch_py, data, ','.join(map(str, m['widths'])), str(b), str(epochs), '2000',
               'threads' if threads else 'ddp'] + ([str(threads[0])] if threads else [])
        other = None
        if not threads:
            port[0] = 29500 + (port[0] - 29499) % 1000  # a fresh port each run: no TIME_WAIT clash
            other = subprocess.Popen(cmd + ['1', str(port[0])], env=e2, stdout=subprocess.DEVNULL)
            cmd = cmd + ['0', str(port[0])]
        out = run(cmd, env=e2)
        if other and other.wait() != 0:
            sys.exit('mpi_bench.py: DDP rank 1 failed')
        r = {}
        for line in out.splitlines():
            w = line.split(None, 1)
            if len(w) == 2:
                r[w[0]] = w[1]
        info['blas'], info['torch'] = r['blas'], r['torch']
        return rate([float(s) for s in r['epochs'].split()], int(r['samples']))

    names = [v for v in VARIANTS if have_torch or not v.startswith('torch')]
    # Warm-up round: a few epochs each, to choose the epochs of a run.
    for m in models:
        for name in names:
            _, epoch = measure(m, name, 3)
            m['epochs'][name] = max(3, min(5000, int(args.seconds / epoch) + 2))
        print('calibrated %s: %s epochs' % (m['title'], m['epochs']), file=sys.stderr, flush=True)
    rounds = []
    for rnd in range(args.rounds):
        busy0, own0, wall0 = cpu_busy(), own_cpu(), time.perf_counter()
        for m in models:
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in order:
                m['res'][name].append(measure(m, name, m['epochs'][name])[0])
        p1 = float(run([peak, '0.5']).split()[1])
        two = subprocess.Popen([peak, '0.5'], stdout=subprocess.PIPE, universal_newlines=True)
        p2 = float(run([peak, '0.5']).split()[1]) + float(two.communicate()[0].split()[1])
        wall = time.perf_counter() - wall0
        other = ((cpu_busy() - busy0) / os.sysconf('SC_CLK_TCK') - (own_cpu() - own0)) / (wall * os.cpu_count())
        rounds.append((p1, p2, other, os.getloadavg()[0]))
        print('round %d done: others used %.0f%% of the CPUs' % (rnd + 1, 100 * max(other, 0)), file=sys.stderr,
              flush=True)
    print_table(models, names, rounds, info, width, args)


def ratio(x):
    return ('%.2f×' if x >= 0.1 else '%.2g×') % x


def print_table(models, names, rounds, info, width, args):
    print('| model (batch per rank) | variant | samples/s | vs netc 1 rank | vs faster PyTorch |')
    print('| --- | --- | ---: | ---: | ---: |')
    for m in models:
        res = m['res']
        best = [max(v) for v in zip(*(res[t] for t in TORCH_VARIANTS if t in names))]
        for name in names:
            v = res[name]
            r1 = statistics.median(a / b for a, b in zip(v, res['netc 1 rank']))
            rt = ratio(statistics.median(a / b for a, b in zip(v, best))) if best else '-'
            print('| %s | %s | %s | %s | %s |' % (m['title'], name, '{:,.0f}'.format(statistics.median(v)),
                                                ratio(r1), rt))
    print()
    print('%s, %s; netc `--vector-width=%d`, `%s -O3 -march=native -ffp-contract=off` (schedules: %s); '
          'PyTorch %s, BLAS: %s.' % (time.strftime('%Y-%m-%d', time.gmtime()), cpu_name(), width, args.cc,
                                     ', '.join('%s %s' % (m['title'].split(',')[0], m['schedule']) for m in models),
                                     info.get('torch', '-'), info.get('blas', '-')))
    print('FMA peak (peak.c, AVX-512) per round, one process / two at once: %s GFLOP/s.'
          % ', '.join('%.0f / %.0f (%.2f×)' % (p1, p2, p2 / p1) for p1, p2, _, _ in rounds))
    print('Other processes used %s of the CPUs in the rounds (load average at the end %s).'
          % (', '.join('%.0f%%' % (100 * max(o, 0)) for _, _, o, _ in rounds),
             ', '.join('%.1f' % la for _, _, _, la in rounds)))


if __name__ == '__main__':
    main()
