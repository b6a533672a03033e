"""NewImagesDataset streams every format in batches; the streamed outputs appear whole."""

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError
from PIL import Image

from irl_inr.datasets.new_images import (
    NewImagesDataset,
    StreamChunk,
    StreamedNpyDataset,
    StreamedParquetDataset,
    detect_format,
)
from irl_inr.domains.mnist_u.idx import write_idx
from irl_inr.domains.cryo_em.mrc import write_mrc
from irl_inr.domains.wm811k.conversion import convert_pickle
from tests.domains.wm811k.wafers import wafer_frame, write_python2_style_pickle


def write_pngs(folder, images) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(images):
        paths.append(folder / f"image_{index:03d}.png")
        Image.fromarray(image).save(paths[-1])
    return paths


def sizes_and_pixels(dataset, batch_size):
    batches = dataset.load().batches(batch_size)
    read = list(batches)
    return batches.total, [len(batch) for batch in read], read


@pytest.fixture
def digits():
    return np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)


def test_a_png_folder_streams_in_batches_of_at_most_batch_size(tmp_path, digits):
    paths = write_pngs(tmp_path / "new", digits)
    total, sizes, batches = sizes_and_pixels(NewImagesDataset(str(tmp_path / "new")), 3)
    assert (total, sizes) == (7, [3, 3, 1])
    assert np.array_equal(np.concatenate([batch.pixels for batch in batches]), digits)
    assert sum((batch.sources for batch in batches), []) == [str(path) for path in paths]
    assert all(batch.format == "png" for batch in batches)


def test_nothing_is_read_before_the_batches_are_asked_for(tmp_path, digits):
    write_pngs(tmp_path / "new", digits)
    loaded = NewImagesDataset(str(tmp_path / "new")).load()
    (tmp_path / "new" / "image_000.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"image_000.png: not a readable PNG"):
        loaded.batches(4)


def test_a_colour_png_is_read_as_grayscale(tmp_path):
    colour = np.zeros((5, 6, 3), dtype=np.uint8)
    colour[..., 1] = 200
    Image.fromarray(colour).save(tmp_path / "one.png")
    _, _, batches = sizes_and_pixels(NewImagesDataset(str(tmp_path / "one.png")), 2)
    expected = np.asarray(Image.fromarray(colour).convert("L"))
    assert batches[0].pixels.shape == (1, 5, 6) and np.array_equal(batches[0].pixels[0], expected)


def test_a_png_of_another_size_is_an_error_naming_it(tmp_path, digits):
    write_pngs(tmp_path / "new", digits)
    Image.fromarray(np.zeros((30, 28), dtype=np.uint8)).save(tmp_path / "new" / "image_005.png")
    batches = NewImagesDataset(str(tmp_path / "new")).load().batches(3)
    next(batches)
    with pytest.raises(DatasetError, match=r"image_005.png: 28x30 pixels .*\(image_000.png\) is 28x28"):
        next(batches)


def test_an_empty_folder_and_a_missing_path_are_errors_naming_them(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: the folder holds no PNG"):
        NewImagesDataset(str(tmp_path / "empty")).load().batches(4)
    with pytest.raises(DatasetError, match=r"nowhere: no new images there"):
        NewImagesDataset(str(tmp_path / "nowhere")).load()


def test_an_idx_file_streams_with_its_indices_as_sources(tmp_path, digits):
    write_idx(tmp_path / "new-images-idx3-ubyte.gz", digits)
    total, sizes, batches = sizes_and_pixels(NewImagesDataset(str(tmp_path / "new-images-idx3-ubyte.gz")), 4)
    assert (total, sizes) == (7, [4, 3])
    assert np.array_equal(np.concatenate([batch.pixels for batch in batches]), digits)
    assert batches[1].sources[0] == "new-images-idx3-ubyte.gz[4]"


def test_an_mrc_stack_streams_and_a_nan_names_the_file_and_image(tmp_path):
    stack = np.random.default_rng(0).normal(size=(5, 16, 16)).astype(np.float32)
    write_mrc(tmp_path / "new.mrcs", stack, 2.0, stack=True)
    total, sizes, batches = sizes_and_pixels(NewImagesDataset(str(tmp_path / "new.mrcs")), 2)
    assert (total, sizes) == (5, [2, 2, 1])
    assert np.array_equal(np.concatenate([batch.pixels for batch in batches]), stack)
    assert batches[0].sources == ["1@new.mrcs", "2@new.mrcs"]
    stack[3, 4, 4] = np.nan
    write_mrc(tmp_path / "nan.mrcs", stack, 2.0, stack=True)
    batches = NewImagesDataset(str(tmp_path / "nan.mrcs")).load().batches(2)
    next(batches)
    with pytest.raises(DatasetError, match=r"nan.mrcs: image \(1-based\) 4 holds NaN"):
        next(batches)


def test_wafers_stream_from_the_pickle_and_from_its_parquet_conversion(tmp_path):
    frame = wafer_frame(["Center", "Loc", "Donut"])
    pickle_path = write_python2_style_pickle(frame, tmp_path / "new.pkl")
    convert_pickle(pickle_path, tmp_path / "new.parquet")
    for path in (pickle_path, tmp_path / "new.parquet"):
        total, sizes, batches = sizes_and_pixels(NewImagesDataset(str(path), format="auto"), 2)
        assert (total, sizes) == (3, [2, 1])
        for read, expected in zip(sum((batch.pixels for batch in batches), []), frame["waferMap"]):
            assert np.array_equal(read, expected)
        assert batches[1].sources == [f"{path.name} row {frame.index[2]}"]


def test_wafers_without_dies_are_skipped_with_a_count_as_ingestion_does(tmp_path, caplog):
    frame = wafer_frame(["Center", "Loc", "Donut"])
    frame.at[frame.index[0], "waferMap"] = np.zeros((0, 0), dtype=np.uint8)
    frame.at[frame.index[2], "waferMap"] = np.zeros((4, 4), dtype=np.uint8)
    path = write_python2_style_pickle(frame, tmp_path / "new.pkl")
    with caplog.at_level("WARNING"):
        batches = NewImagesDataset(str(path)).load().batches(8)
    assert batches.total == 1
    (batch,) = list(batches)
    assert batch.sources == [f"new.pkl row {frame.index[1]}"]
    assert np.array_equal(batch.pixels[0], frame["waferMap"].iloc[1])
    assert (f"new.pkl: skipping 2 of 3 wafer(s) whose map holds no die (row ids {[int(frame.index[0]), int(frame.index[2])]}); "
            "they get no prediction") in caplog.text


def test_a_file_of_wafers_without_dies_is_an_error_naming_it(tmp_path):
    frame = wafer_frame(["Center"])
    frame.at[frame.index[0], "waferMap"] = np.zeros((0, 0), dtype=np.uint8)
    path = write_python2_style_pickle(frame, tmp_path / "new.pkl")
    with pytest.raises(DatasetError, match=r"new.pkl: none of its 1 wafer maps holds a die"):
        NewImagesDataset(str(path)).load().batches(8)


def test_the_format_comes_from_the_name_or_the_catalog(tmp_path):
    (tmp_path / "folder").mkdir()
    for name, expected in (("t10k-images-idx3-ubyte.gz", "idx"), ("a.mrcs", "mrc"), ("LSWMD.pkl", "wm811k"),
                           ("w.parquet", "wm811k"), ("x.PNG", "png"), ("folder", "png"), ("scan.tif", "images")):
        assert detect_format(tmp_path / name) == expected, name
    with pytest.raises(DatasetError, match=r"images.xyz: cannot tell the format"):
        detect_format(tmp_path / "images.xyz")
    with pytest.raises(DatasetError, match=r"format must be one of"):
        NewImagesDataset(str(tmp_path), format="jpeg")
    with pytest.raises(DatasetError, match=r"folder: is a folder, which only formats \['png', 'images'\] read"):
        NewImagesDataset(str(tmp_path / "folder"), format="mrc").load()


def test_streamed_outputs_appear_only_when_their_last_chunk_is_in(tmp_path):
    npy, parquet = StreamedNpyDataset(str(tmp_path / "c.npy")), StreamedParquetDataset(str(tmp_path / "p.parquet"))
    images = np.arange(5 * 2 * 2, dtype=np.float32).reshape(5, 2, 2)
    table = pd.DataFrame({"image_id": np.arange(5), "source": list("abcde")})
    for start in (0, 3):
        assert not (tmp_path / "c.npy").exists() and not (tmp_path / "p.parquet").exists()
        npy.save(StreamChunk(start, 5, images[start : start + 3]))
        parquet.save(StreamChunk(start, 5, table.iloc[start : start + 3]))
    assert np.array_equal(npy.load(), images) and isinstance(npy.load(), np.memmap)
    pd.testing.assert_frame_equal(parquet.load(), table)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["c.npy", "p.parquet"]


def test_a_chunk_out_of_order_or_of_another_shape_is_refused(tmp_path):
    npy = StreamedNpyDataset(str(tmp_path / "c.npy"))
    npy.save(StreamChunk(0, 6, np.zeros((2, 3, 3))))
    with pytest.raises(DatasetError, match=r"rows 4..6 of 6 arrived after 2 rows"):
        npy.save(StreamChunk(4, 6, np.zeros((2, 3, 3))))
    with pytest.raises(DatasetError, match=r"images 2.. have shape \(4, 4\)"):
        npy.save(StreamChunk(2, 6, np.zeros((2, 4, 4))))
    with pytest.raises(DatasetError, match=r"expected a StreamChunk"):
        npy.save(np.zeros((6, 3, 3)))
    assert not (tmp_path / "c.npy").exists()
