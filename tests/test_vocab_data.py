import numpy as np
import pytest
import torch

from charlm.data import StreamBatcher, eval_batcher, split_ids
from charlm.errors import CharlmError
from charlm.vocab import Vocab, read_text


def test_read_text_errors_name_the_problem_and_the_fix(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(CharlmError, match="empty"):
        read_text(empty)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("abc café".encode("latin-1"))
    with pytest.raises(CharlmError, match=r"byte 0xe9 at offset 7.*--encoding"):
        read_text(latin1)
    assert read_text(latin1, encoding="latin-1") == "abc café"
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"ab\x00\x01\x02")
    with pytest.raises(CharlmError, match="binary.*offset 2"):
        read_text(binary)
    with pytest.raises(CharlmError, match="no such file"):
        read_text(tmp_path / "missing.txt")
    with pytest.raises(CharlmError, match="unknown encoding"):
        read_text(latin1, encoding="klingon")
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffhello".encode("utf-8"))
    assert read_text(bom) == "hello"


def test_vocab_is_unicode_characters_not_bytes():
    text = "Chinese 中文字符 and accents: café, naïve."
    vocab = Vocab.from_text(text)
    assert "中" in vocab and "é" in vocab and len(vocab) == len(set(text))
    assert list(vocab.chars) == sorted(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and len(ids) == len(text)
    assert vocab.decode(ids) == text
    assert Vocab.from_list(vocab.to_list()) == vocab
    with pytest.raises(CharlmError, match=r"'Z' \(U\+005A\) at position 2"):
        vocab.encode("anZ")


def test_splits_are_contiguous():
    ids = np.arange(1000)
    splits = split_ids(ids, (0.9, 0.05, 0.05))
    assert [len(splits[k]) for k in ("train", "val", "test")] == [900, 50, 50]
    assert np.array_equal(np.concatenate([splits["train"], splits["val"], splits["test"]]), ids)
    with pytest.raises(CharlmError):
        split_ids(ids, (0.9, 0.2, 0.1))


def test_batcher_streams_continue_across_batches():
    ids = np.arange(1001)
    batcher = StreamBatcher.from_ids(ids, batch_size=4, seq_length=5)
    assert len(batcher) == 50  # 1000 // (4 * 5)
    x0, y0, new0 = batcher.next_batch()
    x1, y1, new1 = batcher.next_batch()
    assert new0 and not new1
    assert x0.shape == (4, 5)
    assert np.array_equal(y0.numpy(), x0.numpy() + 1)  # targets are the next characters
    # Row b of the next batch picks up exactly where row b of this batch stopped.
    assert np.array_equal(x1[:, 0].numpy(), x0[:, -1].numpy() + 1)
    assert np.array_equal(x0[:, 0].numpy(), [0, 250, 500, 750])  # four contiguous streams
    for _ in range(48):
        batcher.next_batch()
    assert batcher.cursor == 0 and batcher.epoch == 1
    _, _, starts = batcher.next_batch()
    assert starts


def test_batcher_state_and_shards():
    batcher = StreamBatcher.from_ids(np.arange(801), batch_size=4, seq_length=10)
    for _ in range(3):
        batcher.next_batch()
    saved = batcher.state_dict()
    expected = batcher.next_batch()[0]
    other = StreamBatcher.from_ids(np.arange(801), batch_size=4, seq_length=10)
    other.load_state_dict(saved)
    assert np.array_equal(other.next_batch()[0].numpy(), expected.numpy())
    shard = StreamBatcher.from_ids(np.arange(801), 4, 10).shard(1, 2)
    assert np.array_equal(shard.batch(0)[0][:, 0].numpy(), [200, 600])
    with pytest.raises(CharlmError):
        batcher.shard(0, 3)


def test_text_shorter_than_one_batch_is_a_clear_error():
    with pytest.raises(CharlmError, match=r"has 100 characters but one batch needs 2,501.*--batch-size"):
        StreamBatcher.from_ids(np.arange(100), 50, 50)
    small = eval_batcher(np.arange(30), 50, 50)  # held-out splits shrink the batch instead
    assert small.batch_size == 1 and small.seq_length == 29


def test_compact_ids_by_vocabulary_size():
    ascii_text = "hello, world\n"
    assert Vocab.from_text(ascii_text).compact_dtype == np.uint8
    wide = "".join(chr(0x4E00 + i) for i in range(300))  # 300 CJK characters: more than a byte can number
    assert Vocab.from_text(wide).compact_dtype == np.uint16
    huge = Vocab.from_list(chr(0x10000 + i) for i in range(70_000))
    assert huge.compact_dtype == np.int32
    for text in (ascii_text, wide):
        vocab = Vocab.from_text(text)
        compact = vocab.encode(text, dtype=vocab.compact_dtype)
        assert compact.dtype == vocab.compact_dtype and np.array_equal(compact, vocab.encode(text))
        assert vocab.decode(compact) == text


def test_encoding_in_chunks_names_the_right_position(monkeypatch):
    import charlm.vocab

    monkeypatch.setattr(charlm.vocab, "ENCODE_CHUNK", 7)  # many chunks: positions must be global, not per chunk
    vocab = Vocab.from_text("abcdefgh ")
    text = "abc defgh abc de" * 3
    assert vocab.decode(vocab.encode(text, dtype=np.uint8)) == text
    with pytest.raises(CharlmError, match=r"'Z' \(U\+005A\) at position 23"):
        vocab.encode(text[:23] + "Z" + text[24:])
    with pytest.raises(CharlmError, match="invalid character at position 18"):
        vocab.encode(text[:18] + "\udcff" + text[19:])


def test_batches_are_int64_views_of_compact_ids():
    ids = (np.arange(4001) % 200).astype(np.uint8)  # what vocab.encode(text, dtype=vocab.compact_dtype) gives
    wide = ids.astype(np.int64)
    compact = StreamBatcher.from_ids(ids, batch_size=4, seq_length=10)
    reference = StreamBatcher.from_ids(wide, batch_size=4, seq_length=10)
    # the streams are the ids themselves, one byte a character: no int64 copy of the split is ever made
    assert compact.x.dtype == torch.uint8 and np.shares_memory(compact.x.numpy(), ids)
    for i in (0, 1, len(compact) - 1):
        for got, want in zip(compact.batch(i), reference.batch(i)):
            assert got.dtype == torch.int64 and torch.equal(got, want)
    shard = compact.shard(1, 2)
    assert shard.batch(3)[0].dtype == torch.int64 and torch.equal(shard.batch(3)[0], reference.shard(1, 2).batch(3)[0])
    for ids_of_split in (ids[:1234], ids[:1234].astype(np.uint16)):
        evals = eval_batcher(ids_of_split, 8, 50)
        assert np.shares_memory(evals.x.numpy(), ids_of_split)
        batches = list(evals)
        want = list(eval_batcher(ids[:1234].astype(np.int64), 8, 50))
        assert len(batches) == len(want) and all(x.dtype == torch.int64 and torch.equal(x, wx) and torch.equal(y, wy)
                                                 for (x, y), (wx, wy) in zip(batches, want))
        assert sum(y.numel() for _, y in batches) == evals.num_targets == 1233
