"""The MLP head of bench/encoder_certificate.py: fitted in the encoder's virtualenv (torch) on
the training sets that `encoder_certificate.py run` saves, its scores read back by `run`."""

from __future__ import annotations

import pickle

import numpy as np

from bench.provenance import cache_key

MLP_SEEDS = (1, 2, 3)
SCORED = ("validation", "test", "suite")


def heads_folder(work):
    """Where `run` saves the training sets and `mlp` its scores: one folder per commit of the
    code (bench/provenance.py), so `run` never reads an MLP another commit's code fitted."""
    return work / "heads" / cache_key()


def mlp(args) -> None:
    """A small MLP head (384-128-1, dropout 0.2, Adam 1e-3, weighted BCE, batch 256, early
    stopping on validation AUC, patience 3, at most 30 epochs) on the embeddings, per seed, for
    each training set `run` saved (minilm only; run in the encoder's venv, then `run` again)."""
    import torch

    torch.set_num_threads(1)
    x = {
        k: torch.from_numpy(np.load(args.work / f"{k}-minilm.npy"))
        for k in ("train", "debias", *SCORED)
    }
    val_labels = pickle.loads((args.work / "rows.pkl").read_bytes())["validation"]["labels"]
    for path in sorted(heads_folder(args.work).glob("train-*.npz")):
        data = np.load(path)
        weight = int(path.stem.split("w=")[1])
        if weight not in args.weights:
            continue
        inputs = torch.cat([x["train"], x["debias"]]) if data["augment"] else x["train"]
        labels = torch.from_numpy(data["labels"].astype("float32"))
        weights = torch.from_numpy(data["weights"].astype("float32"))
        for seed in MLP_SEEDS:
            torch.manual_seed(seed)
            net = torch.nn.Sequential(torch.nn.Linear(384, 128), torch.nn.ReLU(),
                                      torch.nn.Dropout(0.2), torch.nn.Linear(128, 1))  # fmt: skip
            optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
            best, best_auc, patience = None, -1.0, 0
            for _ in range(30):
                net.train()
                for batch in torch.randperm(len(labels)).split(256):
                    optimizer.zero_grad()
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(
                        net(inputs[batch]).squeeze(1), labels[batch], weight=weights[batch]
                    )
                    loss.backward()
                    optimizer.step()
                auc = _auc(_predict(net, x["validation"]), val_labels)
                if auc > best_auc:
                    best, best_auc, patience = (
                        {k: v.clone() for k, v in net.state_dict().items()},
                        auc,
                        0,
                    )
                else:
                    patience += 1
                    if patience >= 3:
                        break
            net.load_state_dict(best)
            target = path.parent / f"{path.stem.replace('train-', 'mlp-')}-seed{seed}.npz"
            np.savez(target, **{k: _predict(net, x[k]) for k in SCORED})
            print(target.name, f"validation AUC {best_auc:.4f}", flush=True)


def _predict(net, x) -> np.ndarray:
    import torch

    net.eval()
    with torch.no_grad():
        return torch.sigmoid(net(x).squeeze(1)).numpy().astype("float64")


def _auc(scores, labels) -> float:
    ranks = np.argsort(np.argsort(scores)) + 1.0
    positive = np.asarray(labels) >= 0.5
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
