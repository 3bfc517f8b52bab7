#!/usr/bin/python3
"""Write the PyTorch fixtures of the model matrix (tests/pytorch/matrix/).

Each entry of MODELS below is a small network in netc's model language; this
script writes its YAML (matrix/NAME.yaml, model name `m` so one generic
harness, tests/matrix/Inputs/harness.c, fits all of them) and its PyTorch
reference (matrix/NAME.txt).  Run it with Debian's python3 (python3-torch):

    /usr/bin/python3 tests/pytorch/gen_matrix.py            # (re)write every model
    /usr/bin/python3 tests/pytorch/gen_matrix.py NAME ...   # only these
    /usr/bin/python3 tests/pytorch/gen_matrix.py --check    # are the committed files what torch computes?
    /usr/bin/python3 tests/pytorch/gen_matrix.py --list     # the matrix, one model a line

The semantics are torch.nn / torch.optim (1.13) of the same names: Linear layers
named as in the YAML, bias: false -> nn.Linear(bias=False), trainable: false ->
requires_grad_(False) and left out of the optimizer, softmax -> nn.Softmax(dim=1),
the losses nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss,
nn.CrossEntropyLoss (class-index targets) with the YAML's reduction, the
optimizers optim.SGD / Adam / AdamW with the YAML's hyperparameters.

For every model the fixture starts from torch.manual_seed(S): default nn.Linear
initial weights, then the data of STEPS steps (inputs torch.randn; targets
torch.randn for mse/l1, torch.rand for bce/bce_with_logits, torch.randint class
indices for cross_entropy).  S is the first seed from 0 up for which the
fixture is a sound float32 test (acceptable()):
  * no ReLU / leaky ReLU pre-activation, and for l1 no y - t, comes within
    KINK_MARGIN of 0 at any step, so rounding cannot flip a mask or a sign;
  * every trainable parameter has a nonzero gradient at step 0;
  * the whole computation redone in float64 from the same float32 start and
    data agrees with torch's float32 numbers to F64_REL (under the harness's
    comparison rule, see close()) on every value: so float32 rounding, however
    a correct implementation orders its sums, moves the values by about
    F64_REL, ten times less than the harness's tolerance MATRIX_REL.

--check regenerates every fixture in memory and compares it with the committed
one: identical data lines pass; values that differ only in the last bits
(another CPU's BLAS) pass with a note when within MATRIX_REL; anything else,
and any YAML that is not what this script writes, fails.
"""

import argparse
import copy
import os
import sys

import torch
import torch.nn as nn
import torch.optim as optim

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, 'matrix')

STEPS = 25
KINK_MARGIN = 1e-3  # |relu/leaky_relu pre-activation|, |y - t| for l1: at least this
F64_REL = 3e-6      # float32 torch vs the same in float64, every value (close() rule)
MATRIX_REL = 1e-5   # the harness's tolerance
FLOOR = 1e-2        # below FLOOR * (largest |value| of the key) a value is "zero" (close())
MAX_SEED = 400
# Saturated models (saturated=True) are there for float32's exact 0 and 1.
# Far enough out float64 agrees (its tiny values clamp and vanish as float's
# zeros do); where it cannot (a loss of exactly 0: no_f64=True) the float64
# check is not run.  Either way no sigmoid logit may lie in SIGMOID_BANDS (where sigmoid rounds to 1
# or just below it, and an ulp of difference moves log(1 - y) far; where it
# rounds to 0 or a denormal as exp overflows) and no
# softmax logit gap to its row's largest in SOFTMAX_BANDS (the same edge of
# 1, and where exp underflows through the denormals to 0).
SIGMOID_BANDS = ((14.0, 19.0), (-95.0, -80.0))  # and where exp(-z) overflows to inf
SOFTMAX_BANDS = ((14.0, 19.0), (80.0, 110.0))

SGD = 'sgd'
ADAM = 'adam'
ADAMW = 'adamw'


def out_dir(spec):
    """matrix/, or matrix-loops/ for the loop-scheduled models (spec 'dir')."""
    return os.path.join(HERE, spec.get('dir', 'matrix'))


def L(name, out, act='identity', **kw):
    d = dict(name=name, linear=out, activation=act)
    d.update(kw)
    return d


# The matrix.  covers: what the model is there for (printed by --list and in
# the fixture's header).
MODELS = [
    dict(name='seed_relu_mse_sgd_b1', input=5, batch=1,
         layers=[L('hidden', 3, 'relu'), L('out', 1, 'relu')],
         loss=('mse', None), opt=(SGD, dict(lr=0.01)),
         covers='the reference network: relu on both layers (output relu too), mse (plain), plain sgd, batch 1'),
    dict(name='relu_mse_sum_sgd_b3', input=4, batch=3,
         layers=[L('h', 5, 'relu'), L('o', 2)],
         loss=('mse', 'sum'), opt=(SGD, dict(lr=0.02)),
         covers='relu hidden, identity output, mse sum, plain sgd, batch 3'),
    dict(name='sigmoid_bce_sgd_momentum_b3', input=4, batch=3,
         layers=[L('h', 5, 'sigmoid'), L('o', 3, 'sigmoid')],
         loss=('bce', 'mean'), opt=(SGD, dict(lr=0.2, momentum=0.9, dampening=0.1)),
         covers='sigmoid hidden and output, bce mean, sgd momentum with dampening, batch 3'),
    dict(name='tanh_ce_nesterov_b8', input=6, batch=8,
         layers=[L('h', 6, 'tanh'), L('o', 4)],
         loss=('cross_entropy', 'mean'), opt=(SGD, dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.01)),
         covers='tanh, cross_entropy mean (4 classes), sgd nesterov + weight_decay, batch 8'),
    dict(name='leaky_l1_sum_adam_b3', input=4, batch=3,
         layers=[L('h', 5, 'leaky_relu', negative_slope=0.2), L('o', 2)],
         loss=('l1', 'sum'), opt=(ADAM, dict(lr=0.01)),
         covers='leaky_relu slope 0.2, l1 sum, adam (defaults), batch 3'),
    dict(name='softmax_bce_sum_adamw_b8', input=5, batch=8,
         layers=[L('h', 4, 'tanh'), L('o', 3, 'softmax')],
         loss=('bce', 'sum'), opt=(ADAMW, dict(lr=0.01)),
         covers='softmax output, bce sum on softmax probabilities, adamw (default weight_decay 0.01), batch 8'),
    dict(name='identity_bcelogits_adam_wd_b1', input=3, batch=1,
         layers=[L('h', 4, 'identity'), L('o', 2)],
         loss=('bce_with_logits', 'mean'), opt=(ADAM, dict(lr=0.02, betas=[0.8, 0.99], eps=1e-6, weight_decay=0.05)),
         covers='explicit identity hidden, bce_with_logits mean, adam with weight_decay, betas, eps, batch 1'),
    dict(name='frozen_mid_ce_sum_sgd_wd_b3', input=4, batch=3,
         layers=[L('h', 5, 'relu'), L('f', 4, 'leaky_relu', negative_slope=0.1, trainable=False, bias=False),
                 L('o', 3)],
         loss=('cross_entropy', 'sum'), opt=(SGD, dict(lr=0.05, weight_decay=0.02)),
         covers='frozen bias-less middle layer (gradient flows through it), cross_entropy sum, sgd weight_decay only'),
    dict(name='nobias_mse_sum_sgd_momentum_b8', input=5, batch=8,
         layers=[L('h', 4, 'tanh', bias=False), L('o', 2, bias=False)],
         loss=('mse', 'sum'), opt=(SGD, dict(lr=0.01, momentum=0.5)),
         covers='bias: false on every layer, mse sum, sgd momentum (no dampening), batch 8'),
    dict(name='frozen_first_tanh_mse_adam_b1', input=4, batch=1,
         layers=[L('h', 5, 'tanh', trainable=False), L('o', 3)],
         loss=('mse', 'mean'), opt=(ADAM, dict(lr=0.01)),
         covers='frozen first layer (with bias), mse mean, adam state for the trainable layer only, batch 1'),
    dict(name='softmax_mse_sgd_momentum_wd_b3', input=4, batch=3,
         layers=[L('h', 5, 'relu'), L('o', 4, 'softmax')],
         loss=('mse', 'mean'), opt=(SGD, dict(lr=0.5, momentum=0.9, dampening=0.5, weight_decay=0.01)),
         covers='softmax output under mse, sgd momentum + dampening + weight_decay, batch 3'),
    dict(name='sigmoid_l1_mean_adamw_b1', input=3, batch=1,
         layers=[L('h', 4, 'sigmoid'), L('o', 2)],
         loss=('l1', 'mean'), opt=(ADAMW, dict(lr=0.01, betas=[0.85, 0.995], eps=1e-7, weight_decay=0.1)),
         covers='sigmoid hidden, l1 mean, adamw with weight_decay 0.1, betas, eps, batch 1'),
    dict(name='relu_bcelogits_sum_nesterov_b8', input=6, batch=8,
         layers=[L('h', 6, 'relu'), L('o', 3)],
         loss=('bce_with_logits', 'sum'), opt=(SGD, dict(lr=0.005, momentum=0.9, nesterov=True)),
         covers='relu, bce_with_logits sum, sgd nesterov without weight_decay, batch 8'),
    dict(name='single_layer_ce_adam_b3', input=5, batch=3,
         layers=[L('o', 3)],
         loss=('cross_entropy', 'mean'), opt=(ADAM, dict(lr=0.05, weight_decay=0.01)),
         covers='one linear layer (logistic regression), cross_entropy mean, adam weight_decay, batch 3'),
    dict(name='deep_relu_tanh_sigmoid_mse_b3', input=4, batch=3,
         layers=[L('a', 6, 'relu'), L('b', 5, 'tanh'), L('c', 4, 'sigmoid'), L('o', 2)],
         loss=('mse', 'mean'), opt=(SGD, dict(lr=0.05, momentum=0.9)),
         covers='four layers relu -> tanh -> sigmoid -> identity, mse mean, sgd momentum, batch 3'),
    dict(name='leaky_default_bce_adam_b8', input=4, batch=8,
         layers=[L('h', 5, 'leaky_relu'), L('o', 2, 'sigmoid')],
         loss=('bce', 'mean'), opt=(ADAM, dict(lr=0.01)),
         covers='leaky_relu default slope 0.01, sigmoid output, bce mean, adam, batch 8'),
    dict(name='frozen_last_mse_sgd_momentum_b1', input=3, batch=1,
         layers=[L('h', 4, 'tanh'), L('o', 2, trainable=False)],
         loss=('mse', 'mean'), opt=(SGD, dict(lr=0.1, momentum=0.9)),
         covers='frozen output layer (gradient still reaches the first), sgd momentum state only for h, batch 1'),
    dict(name='nobias_ce_sum_adamw_b8', input=6, batch=8,
         layers=[L('h', 5, 'relu', bias=False), L('o', 4)],
         loss=('cross_entropy', 'sum'), opt=(ADAMW, dict(lr=0.005, weight_decay=0.05)),
         covers='bias-less relu layer, cross_entropy sum, adamw weight_decay 0.05, batch 8'),
    dict(name='leaky_out_l1_mean_sgd_b8', input=3, batch=8,
         layers=[L('h', 4, 'sigmoid'), L('o', 2, 'leaky_relu', negative_slope=0.3)],
         loss=('l1', 'mean'), opt=(SGD, dict(lr=0.1)),
         covers='leaky_relu on the output layer, l1 mean, plain sgd, batch 8'),
    dict(name='softmax_bce_mean_sgd_b1', input=4, batch=1,
         layers=[L('h', 3, 'tanh'), L('o', 3, 'softmax')],
         loss=('bce', 'mean'), opt=(SGD, dict(lr=0.5)),
         covers='softmax output, bce mean on probabilities, plain sgd, batch 1'),
    dict(name='gelu_mse_adam_b8', input=4, batch=8,
         layers=[L('h', 6, 'gelu'), L('o', 3, 'gelu')],
         loss=('mse', 'mean'), opt=(ADAM, dict(lr=0.01)),
         covers='gelu (the exact erf form) on the hidden and output layers, mse mean, adam, batch 8'),
    # Loop-scheduled models (above the unroll budget: netc's --unroll=auto takes loops), in
    # matrix-loops/.  At these sizes float32 itself moves the values by more than
    # F64_REL (sums of hundreds of terms, 25 steps): the float64 rerun agrees to the
    # 'f64_rel' given, and tests/matrix/loops.test holds netc to LOOPS_REL = 3e-4,
    # three times that.
    dict(name='loops_mnist_tanh_ce_sgd_b64', input=784, batch=64, dir='matrix-loops', f64_rel=1e-4,
         layers=[L('fc1', 128, 'tanh'), L('fc2', 10)],
         loss=('cross_entropy', 'mean'), opt=(SGD, dict(lr=0.05)),
         covers='loop schedule: the MNIST MLP 784-128-10, cross_entropy mean, plain sgd, batch 64'),
    dict(name='loops_w64_tanh_mse_adam_b256', input=32, batch=256, dir='matrix-loops', f64_rel=1e-4,
         layers=[L('fc1', 64, 'tanh'), L('fc2', 64, 'tanh'), L('fc3', 1)],
         loss=('mse', 'mean'), opt=(ADAM, dict(lr=0.001)),
         covers='loop schedule: 32-64-64-1 regressor, mse mean, adam, batch 256'),
    dict(name='loops_surrogate_sigmoid_mse_momentum_b32', input=16, batch=32, dir='matrix-loops', f64_rel=1e-4,
         layers=[L('fc1', 256, 'tanh'), L('fc2', 256, 'sigmoid'), L('fc3', 1)],
         loss=('mse', 'mean'), opt=(SGD, dict(lr=0.001, momentum=0.9)),
         covers='loop schedule: 16-256-256-1 surrogate, tanh and sigmoid, mse mean, sgd momentum, batch 32'),
    dict(name='loops_budget_tanh_bce_sgd_b5', input=17, batch=5, dir='matrix-loops', f64_rel=1e-4,
         layers=[L('h', 16, 'tanh'), L('o', 3, 'sigmoid')],
         loss=('bce', 'mean'), opt=(SGD, dict(lr=0.1)),
         covers='loop schedule just above the unroll budget (unrolled: 8268 scalar nodes, the budget 8192), bce, sgd, batch 5'),
    # Saturated bce (see SAT_BAND): predictions of exactly 0 or 1 in float32.
    dict(name='sat_sigmoid_bce_sgd_b8', input=3, batch=8,
         layers=[L('o', 1, 'sigmoid')],
         loss=('bce', 'mean'), opt=(SGD, dict(lr=0.5)), x_scale=[1, 1, 1, 1, 1000, 1000, 1000, 1000],
         targets='binary', saturated=True,
         covers='saturated logistic regression: inputs x1000 in half the batch, logits far past 17 give '
                'sigmoid exactly 0 and 1 (bce clamps, finite gradients), separable 0/1 targets, sgd lr 0.5'),
    dict(name='sat_softmax_bce_sum_adam_b4', input=4, batch=4,
         layers=[L('h', 5, 'tanh'), L('o', 3, 'softmax')],
         loss=('bce', 'sum'), opt=(ADAM, dict(lr=0.01)), bias_init=dict(o=[0.0, 0.0, -120.0]),
         saturated=True,
         covers='saturated softmax under bce sum: a third output exactly 0 (its logit 120 below), gradient 0 through it, adam, batch 4'),
    dict(name='sat_zero_loss_bce_sgd_b2', input=2, batch=2,
         layers=[L('o', 2, 'sigmoid')],
         loss=('bce', 'mean'), opt=(SGD, dict(lr=1e-6)), bias_init=dict(o=[40.0, 40.0]), targets='ones',
         saturated=True, allow_dead=True, no_f64=True,
         covers='loss exactly 0: every prediction exactly 1 on targets 1, every gradient exactly 0, sgd lr 1e-6'),
]


# ---- YAML ---------------------------------------------------------------------

def num(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return '%d' % v
    return repr(float(v))


def yaml_text(spec):
    lines = ['# %s: written by tests/pytorch/gen_matrix.py, do not edit.' % spec['name'],
             '# Covers: ' + spec['covers'],
             'name: m', 'input: %d' % spec['input'], 'layers:']
    for l in spec['layers']:
        parts = ['name: %s' % l['name'], 'linear: %d' % l['linear'], 'activation: %s' % l['activation']]
        for k in ('negative_slope', 'bias', 'trainable'):
            if k in l:
                parts.append('%s: %s' % (k, num(l[k])))
        lines.append('  - {%s}' % ', '.join(parts))
    loss, red = spec['loss']
    lines.append('loss: %s' % loss if red is None else 'loss: {%s: {reduction: %s}}' % (loss, red))
    kind, hp = spec['opt']
    items = []
    for k, v in hp.items():
        items.append('%s: [%s]' % (k, ', '.join(num(b) for b in v)) if isinstance(v, list)
                     else '%s: %s' % (k, num(v)))
    lines += ['optimizer:', '  %s: {%s}' % (kind, ', '.join(items)), 'batch: %d' % spec['batch']]
    return '\n'.join(lines) + '\n'


# ---- the torch model ------------------------------------------------------------

class Net(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        n = spec['input']
        for l in spec['layers']:
            lin = nn.Linear(n, l['linear'], bias=l.get('bias', True))
            setattr(self, l['name'], lin)
            n = l['linear']
        with torch.no_grad():
            for name, b in spec.get('bias_init', {}).items():
                getattr(self, name).bias.copy_(torch.tensor(b))
        for l in spec['layers']:
            if not l.get('trainable', True):
                getattr(self, l['name']).requires_grad_(False)

    def forward(self, x, record=None, sat=None):
        h = x
        for l in self.spec['layers']:
            z = getattr(self, l['name'])(h)
            act = l['activation']
            if record is not None and act in ('relu', 'leaky_relu'):
                record.append(z.detach())
            if sat is not None and act in ('sigmoid', 'softmax'):
                sat.append((act, z.detach()))
            if act == 'relu':
                h = torch.relu(z)
            elif act == 'sigmoid':
                h = torch.sigmoid(z)
            elif act == 'tanh':
                h = torch.tanh(z)
            elif act == 'leaky_relu':
                h = nn.functional.leaky_relu(z, l.get('negative_slope', 0.01))
            elif act == 'softmax':
                h = nn.Softmax(dim=1)(z)
            elif act == 'gelu':
                h = nn.functional.gelu(z)  # approximate='none': the erf form
            else:
                h = z
        return h


def criterion(spec):
    loss, red = spec['loss']
    red = red or 'mean'
    return {'mse': nn.MSELoss, 'l1': nn.L1Loss, 'bce': nn.BCELoss, 'bce_with_logits': nn.BCEWithLogitsLoss,
            'cross_entropy': nn.CrossEntropyLoss}[loss](reduction=red)


def optimizer(spec, params):
    kind, hp = spec['opt']
    hp = dict(hp)
    if 'betas' in hp:
        hp['betas'] = tuple(hp['betas'])
    return {SGD: optim.SGD, ADAM: optim.Adam, ADAMW: optim.AdamW}[kind](params, **hp)


STATE_KEYS = {SGD: ['momentum_buffer'], ADAM: ['exp_avg', 'exp_avg_sq'], ADAMW: ['exp_avg', 'exp_avg_sq']}


def n_out(spec):
    return spec['layers'][-1]['linear']


def make_data(spec, gen_dtype=torch.float32):
    B, IN, C = spec['batch'], spec['input'], n_out(spec)
    loss = spec['loss'][0]
    data = []
    for _ in range(STEPS):
        x = torch.randn(B, IN)
        if 'x_scale' in spec:  # per sample (row)
            x = x * torch.tensor(spec['x_scale'], dtype=x.dtype).reshape(B, 1)
        if spec.get('targets') == 'binary':  # separable: the sign of the first input
            t = (x[:, :1] > 0).float().expand(B, C).contiguous()
        elif spec.get('targets') == 'ones':
            t = torch.ones(B, C)
        elif loss == 'cross_entropy':
            t = torch.randint(0, C, (B,))
        elif loss in ('bce', 'bce_with_logits'):
            t = torch.rand(B, C)
        else:
            t = torch.randn(B, C)
        data.append((x, t))
    return data


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def in_bands(v, bands):
    return any(lo <= v <= hi for lo, hi in bands)


def sat_ok(sat):
    """No sigmoid logit in SIGMOID_BANDS, no softmax gap in SOFTMAX_BANDS."""
    for act, z in sat:
        if act == 'sigmoid':
            if any(in_bands(v, SIGMOID_BANDS) for v in z.reshape(-1).tolist()):
                return False
        else:
            gaps = (z.max(dim=1, keepdim=True).values - z).reshape(-1).tolist()
            if any(in_bands(v, SOFTMAX_BANDS) for v in gaps):
                return False
    return True


def run(spec, net, data):
    """Step-0 loss and gradients, then STEPS optimizer steps.  Returns (values
    in fixture order as a dict of lists, smallest kink distance, all trainable
    gradients nonzero at step 0).  For a saturated model a logit inside the
    rounding-sensitive bands (sat_ok) makes the kink distance 0."""
    crit = criterion(spec)
    trainable = [p for p in net.parameters() if p.requires_grad]
    opt = optimizer(spec, trainable)
    named = dict(net.named_parameters())
    r = {}
    kink = float('inf')
    with torch.no_grad():
        r['forward.y'] = flat(net(data[0][0]))
    x0, t0 = data[0]
    out = net(x0)
    loss = crit(out, t0)
    loss.backward()
    r['grad0.loss'] = [float(loss.item())]
    alive = True
    for n, p in named.items():
        if p.requires_grad:
            r['grad0.' + n] = flat(p.grad)
            alive = alive and float(p.grad.abs().max()) > 0
    losses = []
    for x, t in data:
        opt.zero_grad()
        rec, sat = [], []
        out = net(x, rec, sat)
        for z in rec:
            kink = min(kink, float(z.abs().min()))
        if spec.get('saturated') and not sat_ok(sat):
            kink = 0.0
        if spec['loss'][0] == 'l1':
            kink = min(kink, float((out - t).abs().min()))
        loss = crit(out, t)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    r['steps.loss'] = losses
    for n, p in named.items():
        r['final.' + n] = flat(p)
    steps = None
    for n, p in named.items():
        if not p.requires_grad:
            continue
        st = opt.state[p]
        for k in STATE_KEYS[spec['opt'][0]]:
            if k in st and st[k] is not None:
                r['final.optim.%s.%s' % (n, k)] = flat(st[k])
        if 'step' in st:
            steps = int(float(st['step']))
    r['final.steps'] = [steps if steps is not None else STEPS]
    return r, kink, alive


def close(a, b, scale):
    """The harness's rule: |a - b| <= tol * max(|a|, |b|, FLOOR * scale), with
    scale the largest |value| of the key.  Returns the error in units of tol
    (the relative error, or the error relative to the floor where it rules)."""
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), FLOOR * scale)


def compare(r, ref):
    worst, where = 0.0, ''
    for k, vref in ref.items():
        scale = max(abs(v) for v in vref)
        for i, (a, b) in enumerate(zip(r[k], vref)):
            e = close(a, b, scale)
            if e > worst:
                worst, where = e, '%s[%d]' % (k, i)
    return worst, where


def build(spec, seed):
    torch.manual_seed(seed)
    net = Net(spec)
    data = make_data(spec)
    net64 = copy.deepcopy(net).double()
    init = {n: flat(p) for n, p in net.named_parameters()}
    r32, kink, alive = run(spec, net, data)
    facts = dict(seed=seed, kink=kink, alive=alive)
    if kink < KINK_MARGIN or not (alive or spec.get('allow_dead')):
        return None, None, facts
    if spec.get('no_f64'):  # float64 would not give the exact 0: sat_ok's bands alone
        facts['f64_rel'], facts['f64_where'] = 0.0, 'not run: saturated on purpose'
        return init, (data, r32), facts
    d64 = [(x.double(), t if spec['loss'][0] == 'cross_entropy' else t.double()) for x, t in data]
    r64, _, _ = run(spec, net64, d64)
    facts['f64_rel'], facts['f64_where'] = compare(r64, r32)
    return init, (data, r32), facts


def fmt(v):
    if isinstance(v, int):
        return '%d' % v
    return '%.9g' % v


HEADER = """\
# netc PyTorch matrix fixture for {name}.yaml: written by
# tests/pytorch/gen_matrix.py, do not edit; check with --check.
# Covers: {covers}
# torch {torch}, torch.manual_seed({seed}), float32.  min |relu pre-activation|
# (and |y - t| for l1) over all steps {kink:.3g}; the same run in float64 agrees
# with these values to {f64:.2g} (harness rule; worst at {where}).
#
# Format: '#' lines and empty lines are comments; every other line is
#     KEY COUNT V1 ... VCOUNT       (floats %.9g: strtof reads torch's float32)
# Matrices row-major, weight[out][in].  P ranges over the state_dict names in
# order; S over the optimizer's state tensors of the trainable parameters.
#     torch_seed 1               the seed above
#     steps 1, batch 1, lr 1     optimizer steps, samples per step, learning rate
#     trainable.P 1              1 if P is trained, 0 if frozen
#     init.P N                   initial parameters
#     x.I B*IN, t.I B*TARGETS    the batch of step I = 0..steps-1 (class indices
#                                as floats for cross_entropy)
#     forward.y B*OUT            the outputs for x.0 at the initial weights
#     grad0.loss 1               the loss of batch 0 at the initial weights
#     grad0.P N                  its gradient, trainable P only
#     steps.loss STEPS           loss returned by each optimizer step (before the update)
#     final.P N                  parameters after all the steps
#     final.optim.P.S N          optimizer state after all the steps (torch's state
#                                tensors momentum_buffer, exp_avg, exp_avg_sq)
#     final.steps 1              torch's step count (sgd: the number of steps)
"""


def fixture_text(spec, seeds=None):
    """The fixture for the first acceptable seed in SEEDS (default 0..MAX_SEED-1)."""
    for seed in seeds if seeds is not None else range(MAX_SEED):
        init, res, facts = build(spec, seed)
        if res is not None and facts['f64_rel'] <= spec.get('f64_rel', F64_REL):
            break
    else:
        return None, None
    data, r = res
    kind, hp = spec['opt']
    named = [n for n, _ in Net(spec).named_parameters()]
    frozen = set()
    for l in spec['layers']:
        if not l.get('trainable', True):
            frozen.update(('%s.weight' % l['name'], '%s.bias' % l['name']))
    out = [('torch_seed', [facts['seed']]), ('steps', [STEPS]), ('batch', [spec['batch']]), ('lr', [float(hp['lr'])])]
    out += [('trainable.' + n, [0 if n in frozen else 1]) for n in named]
    out += [('init.' + n, init[n]) for n in named]
    for i, (x, t) in enumerate(data):
        out.append(('x.%d' % i, flat(x)))
        out.append(('t.%d' % i, [float(v) for v in t.reshape(-1).tolist()]))
    out.append(('forward.y', r['forward.y']))
    out.append(('grad0.loss', r['grad0.loss']))
    out += [('grad0.' + n, r['grad0.' + n]) for n in named if n not in frozen]
    out.append(('steps.loss', r['steps.loss']))
    out += [('final.' + n, r['final.' + n]) for n in named]
    out += [(k, v) for k, v in r.items() if k.startswith('final.optim.')]
    out.append(('final.steps', r['final.steps']))
    text = HEADER.format(name=spec['name'], covers=spec['covers'], torch=torch.__version__, seed=facts['seed'],
                         kink=facts['kink'], f64=facts['f64_rel'], where=facts['f64_where'])
    if spec.get('no_f64'):
        text = text.replace(
            '; the same run in float64 agrees\n# with these values to 0 (harness rule; worst at not run: saturated on purpose).',
            '; saturated on purpose: no float64\n# check (float64 does not saturate there); no logit in the bands of SIGMOID_BANDS\n'
            '# and SOFTMAX_BANDS, where rounding could move a prediction onto or off 0 or 1.')
    for k, vals in out:
        text += '%s %d %s\n' % (k, len(vals), ' '.join(fmt(v) for v in vals))
    return text, facts


def data_lines(text):
    return [l for l in text.splitlines() if l.strip() and not l.startswith('#')]


def check_one(spec):
    """Problems (list of strings) and notes for one model's committed files."""
    bad, notes = [], []
    ypath = os.path.join(out_dir(spec), spec['name'] + '.yaml')
    fpath = os.path.join(out_dir(spec), spec['name'] + '.txt')
    try:
        with open(ypath) as f:
            if f.read() != yaml_text(spec):
                bad.append('%s is not what gen_matrix.py writes' % ypath)
        with open(fpath) as f:
            committed = f.read()
    except OSError as e:
        return ['%s' % e], notes
    a = data_lines(committed)
    if not a or a[0].split()[:2] != ['torch_seed', '1']:
        return bad + ['%s: no torch_seed line first' % fpath], notes
    seed = int(a[0].split()[2])
    fresh, _ = fixture_text(spec, [seed])  # the committed seed: is it still acceptable, same numbers?
    if fresh is None:
        return bad + ['%s: seed %d is no longer acceptable (kinks, dead gradients or float64 drift)'
                      % (fpath, seed)], notes
    b = data_lines(fresh)
    if len(a) != len(b):
        bad.append('%s: %d data lines, torch gives %d' % (fpath, len(a), len(b)))
    near, worst = 0, 0.0
    for la, lb in zip(a, b):
        fa, fb = la.split(), lb.split()
        if fa[:2] != fb[:2] or len(fa) != len(fb):
            bad.append('%s: line "%s ..." but torch gives "%s ..."' % (fpath, ' '.join(fa[:2]), ' '.join(fb[:2])))
            continue
        scale = max(abs(float(v)) for v in fb[2:])
        for i, (va, vb) in enumerate(zip(fa[2:], fb[2:])):
            if va == vb:
                continue
            e = close(float(va), float(vb), scale)
            worst = max(worst, e)
            if e <= MATRIX_REL:
                near += 1
            else:
                bad.append('%s: %s[%d] = %s but torch gives %s (rel %.3g)' % (fpath, fa[0], i, va, vb, e))
    if near:
        notes.append('%s: %d values differ in the last bits (max rel %.3g <= %g)' % (fpath, near, worst, MATRIX_REL))
    return bad, notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('names', nargs='*', help='models to write (default: all)')
    ap.add_argument('--check', action='store_true', help='compare the committed files with fresh ones')
    ap.add_argument('--list', action='store_true', help='print the matrix')
    args = ap.parse_args()
    torch.set_num_threads(1)
    specs = MODELS
    if args.names:
        known = {s['name']: s for s in MODELS}
        for n in args.names:
            if n not in known:
                sys.exit('gen_matrix: no model %s' % n)
        specs = [known[n] for n in args.names]
    if args.list:
        for s in specs:
            print('%-34s %s' % (s['name'], s['covers']))
        return 0
    if args.check:
        nbad = 0
        for s in specs:
            bad, notes = check_one(s)
            for line in bad + notes:
                print(line)
            print('%s: %s' % (s['name'], 'STALE' if bad else 'fresh'))
            nbad += bool(bad)
        committed = sorted(f[:-4] for f in os.listdir(OUT_DIR) if f.endswith('.txt'))
        extra = sorted(set(committed) - {s['name'] for s in MODELS})
        for e in extra:
            print('%s: committed fixture of a model not in MODELS' % e)
        if nbad or extra:
            print('matrix fixtures are stale: regenerate with %s' % sys.argv[0])
            return 1
        print('matrix fixtures are fresh: %d models' % len(specs))
        return 0
    os.makedirs(OUT_DIR, exist_ok=True)
    os.makedirs(os.path.join(HERE, 'matrix-loops'), exist_ok=True)
    for s in specs:
        text, facts = fixture_text(s)
        if text is None:
            sys.exit('gen_matrix: %s: no acceptable seed in 0..%d' % (s['name'], MAX_SEED - 1))
        with open(os.path.join(out_dir(s), s['name'] + '.yaml'), 'w') as f:
            f.write(yaml_text(s))
        with open(os.path.join(out_dir(s), s['name'] + '.txt'), 'w') as f:
            f.write(text)
        print('%-34s seed %3d  kink %.3g  f64 rel %.2g (%s)' % (s['name'], facts['seed'], facts['kink'],
                                                                facts['f64_rel'], facts['f64_where']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
