"""One config helper (jaxjam.core.configs) for every frozen config: nested, tuples, unknown keys."""

import json

import pytest

from jaxjam.core.configs import from_dict, from_json
from jaxjam.core.grid import PolarGrid
from jaxjam.data_gen.config import GeneratorConfig
from jaxjam.emulator.training import TrainConfig
from jaxjam.inference import FitConfig, NUTSConfig


def test_nested_configs_and_tuples_round_trip_through_json(tmp_path):
    for cfg in (GeneratorConfig(grid=PolarGrid(n_r=8, n_theta=4)), TrainConfig(), FitConfig()):
        path = tmp_path / f"{type(cfg).__name__}.json"
        path.write_text(json.dumps(cfg.to_dict()))
        assert from_json(type(cfg), path) == cfg


def test_a_nested_dict_builds_the_nested_config():
    cfg = from_dict(FitConfig, {"nuts": {"n_warmup": 10}, "table_nodes": [8, 6]})
    assert cfg.nuts == NUTSConfig(n_warmup=10) and cfg.table_nodes == (8, 6)


def test_unknown_keys_are_refused_with_their_path():
    with pytest.raises(ValueError, match=r"FitConfig\.nuts option\(s\): \['n_warmups'\]"):
        from_dict(FitConfig, {"nuts": {"n_warmups": 10}})
    with pytest.raises(ValueError, match="unknown GeneratorConfig option"):
        GeneratorConfig.from_dict({"draws": 1})


def test_bad_json_and_missing_files_say_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"n_warmup": 10,')
    with pytest.raises(ValueError, match="not valid JSON"):
        from_json(NUTSConfig, bad)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        TrainConfig.from_json(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="must be a mapping"):
        from_dict(FitConfig, {"nuts": [1, 2]})
