"""The temporal (order-aware) consensus: it starts as avg, tells apart videos that differ only in the
order of their snippets (which avg cannot), carries over from 3 training segments to 25 test
snippets, and is recorded in checkpoints; a TSN trained with it tests with another segment count."""

import pytest
import torch

from flowkit.testing import make_tiny_store
from tsn.checkpoint import load_checkpoint, model_from_checkpoint
from tsn.evaluate import evaluate_checkpoint
from tsn.models.consensus import SegmentConsensus, hat_basis, relative_positions
from tsn.config import TrainConfig
from tsn.train import train
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)


def test_hat_basis_interpolates_between_knots():
    positions = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0])
    basis = hat_basis(positions, 3)
    torch.testing.assert_close(basis.sum(1), torch.ones(5))
    torch.testing.assert_close(basis[0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(basis[1], torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(basis[3], torch.tensor([0.0, 0.2, 0.8]))
    torch.testing.assert_close(relative_positions(4), torch.tensor([0.125, 0.375, 0.625, 0.875]))
    with pytest.raises(ValueError, match="2 knots"):
        hat_basis(positions, 1)


@pytest.mark.parametrize("snippets", [1, 3, 25])
def test_temporal_starts_as_avg_for_any_snippet_count(snippets):
    scores = torch.randn(2, snippets, 5)
    consensus = SegmentConsensus("temporal", 3, classes=5)
    torch.testing.assert_close(consensus(scores), scores.mean(1))


def _ordered_scores(first: torch.Tensor, rest: torch.Tensor, snippets: int, reverse: bool) -> torch.Tensor:
    """(snippets, C): `first` for the snippets in the first third of the video, `rest` elsewhere (or,
    reversed, `rest` until two thirds and `first` in the last third)."""
    positions = relative_positions(snippets)
    early = positions > 2 / 3 if reverse else positions < 1 / 3
    return torch.where(early[:, None], first, rest)


def test_temporal_tells_apart_snippets_in_opposite_order_where_avg_cannot():
    # Two classes whose videos hold the same snippets in opposite order: "A then B, B" vs "B, B then A".
    a, b = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    train_scores = torch.stack([_ordered_scores(a, b, 3, False), _ordered_scores(a, b, 3, True)])
    labels = torch.tensor([0, 1])
    avg = SegmentConsensus("avg", 3)(train_scores)
    torch.testing.assert_close(avg[0], avg[1])  # avg sees one multiset: no classifier on it can split them
    consensus = SegmentConsensus("temporal", 3, classes=2)
    optimizer = torch.optim.SGD(consensus.parameters(), lr=1.0)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(consensus(train_scores), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert consensus(train_scores).argmax(1).tolist() == [0, 1]
    # Relative positions, not slots: the same videos seen through 25 test snippets (or 7) still split.
    for snippets in (7, 25):
        test_scores = torch.stack([_ordered_scores(a, b, snippets, False), _ordered_scores(a, b, snippets, True)])
        assert consensus(test_scores).argmax(1).tolist() == [0, 1], snippets


def _fit(consensus: SegmentConsensus, scores: torch.Tensor, labels: torch.Tensor, steps: int = 150) -> float:
    """Train `consensus` alone with SGD on cross-entropy; returns its training accuracy."""
    optimizer = torch.optim.SGD(consensus.parameters(), lr=0.5)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(consensus(scores), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float((consensus(scores).argmax(1) == labels).float().mean())


def test_temporal_reads_a_change_over_time_which_weighted_cannot():
    # One snippet feature b (brightness, say) that rises in class 0 and falls in class 1 from a random
    # start much larger than the change: only early-versus-late evidence with opposite signs tells
    # them apart. weighted is a convex combination of the snippets (it can only pick where to look).
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 2
    start = torch.empty(64, 1).uniform_(-2.0, 2.0, generator=generator)
    slope = (1.0 - 2.0 * labels.float())[:, None]
    brightness = start + slope * (relative_positions(3)[None] - 0.5)
    scores = torch.stack((brightness, torch.zeros_like(brightness)), dim=2)  # (64, 3, 2)
    assert _fit(SegmentConsensus("temporal", 3, classes=2), scores, labels) == 1.0
    assert _fit(SegmentConsensus("weighted", 3), scores, labels) < 0.7


def test_temporal_needs_the_class_count():
    with pytest.raises(ValueError, match="number of classes"):
        SegmentConsensus("temporal", 3)


def test_trained_with_3_segments_tested_with_25_and_the_checkpoint_records_the_consensus(tmp_path):
    store = make_tiny_store(tmp_path / "s.h5", classes=3, videos_per_class=4, frames=30,
                            streams=("rgb", "flow_x", "flow_y"))
    result = train(TrainConfig(store=str(store), modality="flow", consensus="temporal", segments=3, epochs=2,
                               lr=0.05, arch="tiny", input_size=32, batch_size=3, workers=0, progress=False,
                               output=str(tmp_path / "run")))
    saved = load_checkpoint(result["checkpoint"])
    assert saved["model_config"]["consensus"] == "temporal"
    model = model_from_checkpoint(saved)
    weights = saved["model"]["consensus.knot_weights"]
    assert weights.shape == (3, 3, 3) and not torch.equal(weights, torch.eye(3).repeat(3, 1, 1))  # it learned
    torch.testing.assert_close(model.consensus.knot_weights, weights)
    scored = evaluate_checkpoint(store, result["checkpoint"], tmp_path / "t.npz", test_segments=25, workers=0,
                                 progress=False)
    assert scored["videos"] == 3 and 0.0 <= scored["metrics"]["top1"] <= 1.0
    # Resuming with another consensus is refused, as for the paper's ones.
    with pytest.raises(ValueError, match="consensus"):
        train(TrainConfig(store=str(store), modality="flow", consensus="avg", epochs=3, arch="tiny", input_size=32,
                          batch_size=3, workers=0, progress=False, output=str(tmp_path / "run"), resume="auto"))
