"""What a run prints: the quiet console and one clear line for an expected user error."""

import io
import logging
import sys

import pytest
import yaml
from kedro.io.core import DatasetError

from irl_inr.console import (
    EPOCH_LINE,
    QUIET_LOGGERS,
    VERBOSE_VARIABLE,
    DataCheckError,
    ParameterError,
    QuietConsole,
    quiet_messages,
    remember_node,
    report_error,
    user_error_message,
)
from irl_inr.training.checkpoint import START_AFRESH, CheckpointMismatchError


def _raised(error: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        try:
            if cause is not None:
                raise cause
        except BaseException as inner:
            raise error from inner
        raise error
    except BaseException as raised:
        return raised


def test_a_bad_parameter_is_one_error_line_naming_it(caplog, capsys, monkeypatch):
    monkeypatch.delenv(VERBOSE_VARIABLE, raising=False)
    error = _raised(ParameterError("mnist_u.reporting.figure_dpi = 1: must be at least 20"), ValueError("inner"))
    with caplog.at_level(logging.ERROR, logger="irl_inr"):
        assert report_error(error)
    (record,) = caplog.records
    assert record.levelname == "ERROR"
    assert record.getMessage().startswith("Bad parameter: mnist_u.reporting.figure_dpi = 1: must be at least 20.")
    assert "--params" in record.getMessage() and f"{VERBOSE_VARIABLE}=1" in record.getMessage()
    assert "Traceback" not in capsys.readouterr().err


def test_verbose_prints_the_traceback_before_the_error_line(caplog, capsys, monkeypatch):
    monkeypatch.setenv(VERBOSE_VARIABLE, "1")
    with caplog.at_level(logging.ERROR, logger="irl_inr"):
        assert report_error(_raised(ParameterError("training.config = 'x': unknown")))
    assert "Traceback" in capsys.readouterr().err
    assert caplog.records[-1].getMessage().startswith("Bad parameter: training.config")


def test_a_missing_file_names_it_and_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "data/07_model_output/mnist_u/semantic_codes.npy"
    error = _raised(
        DatasetError(f"Failed while loading data from dataset NumpyDataset(filepath={missing}).\n"
                     f"[Errno 2] No such file or directory: '{missing}'"),
        FileNotFoundError(str(missing)),
    )
    message = user_error_message(error)
    assert str(tmp_path) not in message  # paths relative to the project
    assert message.startswith("Could not read or write the data data/07_model_output/mnist_u/semantic_codes.npy:")
    assert "Run the stage that writes it first" in message


def test_an_unreadable_file_asks_for_a_check_of_its_format():
    error = _raised(DatasetError("Failed while loading data from dataset X(filepath=a.idx).\na.idx: not an IDX file"))
    assert user_error_message(error).endswith("a.idx: not an IDX file. Check that the file is complete and in the format its catalog entry names.")


def test_an_unexpected_error_keeps_its_traceback():
    assert user_error_message(_raised(ValueError("images must have shape (N, S, S)"))) is None
    assert not report_error(_raised(KeyError("x")))


@pytest.mark.parametrize("message, shown", [
    ("Completed node: mnist_u.train_dti", False),
    ("Node %s failed with error: \n%s", False),
    ("Completed 4 out of 25 tasks", True),
    ("Running node: train_dti", True),
    ("epoch %d/%d (step %d, %.1fs): %s", True),
    ("training IRLINR on cpu (float32, eager): 8 epochs x 39 steps", True),
])
def test_the_console_filter_keeps_back_only_repeated_lines(message, shown):
    record = logging.LogRecord("kedro.runner.sequential_runner", logging.INFO, __file__, 1, message, None, None)
    assert QuietConsole().filter(record) is shown


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stderr_terminal", "log_terminal", "epoch_lines"), [
    (True, True, False),   # `make run` in a terminal: the bar shows the epochs
    (True, False, True),   # `make run > run.log`: the bar on the terminal, the epochs in the log
    (False, False, True),  # `make run > run.log 2>&1`, CI: no bar, one line per epoch
])
def test_the_line_per_epoch_is_kept_back_only_where_the_bar_is_drawn(monkeypatch, stderr_terminal, log_terminal,
                                                                     epoch_lines):
    monkeypatch.setattr(sys, "stderr", _Terminal() if stderr_terminal else io.StringIO())
    handler = logging.StreamHandler(_Terminal() if log_terminal else io.StringIO())
    record = logging.LogRecord("irl_inr.training.loop", logging.INFO, __file__, 1, EPOCH_LINE + " %d, %.1fs): %s",
                               None, None)
    assert QuietConsole(quiet_messages(handler)).filter(record) is epoch_lines


def test_logging_yml_keeps_back_exactly_the_loggers_verbose_brings_back():
    config = yaml.safe_load(open("conf/logging.yml"))
    kept_back = {name for name, options in config["loggers"].items()
                 if options.get("level") in ("WARNING", "ERROR") and name != "matplotlib"}
    assert kept_back == set(QUIET_LOGGERS)


def _node(function, inputs, tags, namespace="wm811k"):
    from kedro.pipeline import Node, Pipeline

    (node,) = Pipeline([Node(function, inputs=inputs, outputs="out", name=function.__name__, tags=tags)],
                       namespace=namespace).nodes
    return node


def ingest(raw, parameters):
    return raw


def train(images, table, parameters):
    return images


def test_data_that_do_not_fit_the_parameters_are_one_line():
    error = _raised(DataCheckError("cryo_em: too few images for these settings: 7 images, where they need at least 256"))
    message = user_error_message(error)
    assert message.startswith("The images do not fit the parameters: cryo_em: too few images")
    assert "Change them in conf/base/parameters_*.yml" in message


def test_a_front_end_node_s_value_error_is_one_line_naming_the_node():
    error = _raised(ValueError("LSWMD.pkl: row 7: unknown failure type 'Blob' (1 row(s) in all)"))
    remember_node(error, _node(ingest, ["raw_wafers", "params:ingestion"], ["ingestion"]))
    assert user_error_message(error) == (
        "The data cannot be used (node wm811k.ingest): LSWMD.pkl: row 7: unknown failure type 'Blob' (1 row(s) in "
        "all). Correct the file or the parameter it names."
    )


def test_a_value_error_of_a_later_stage_keeps_its_traceback():
    error = _raised(ValueError("shapes differ"))
    remember_node(error, _node(train, ["images", "image_table", "params:training"], ["training"]))
    assert user_error_message(error) is None


def test_a_checkpoint_that_cannot_be_resumed_names_the_checkpoint_dir_of_the_node_s_domain():
    error = _raised(CheckpointMismatchError(
        "checkpoint data/06_models/checkpoints/irl_inr-fast-0.pt was written by a different run and is refused: "
        f"data content differ(s). {START_AFRESH}"
    ))
    remember_node(error, _node(train, ["images", "image_table", "params:training"], ["training"], "mnist_u"))
    message = user_error_message(error)
    assert message.startswith("Training cannot resume its checkpoint (node mnist_u.train): checkpoint data/06_models")
    assert message.endswith("Delete it, or set mnist_u.training.checkpoint_dir to another folder, to start afresh.")
