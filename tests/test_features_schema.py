"""FeatureSchema: the default layout, version hash, JSON round trip, mismatch messages."""

import json

import pytest

from backtest.errors import ConfigError, SchemaMismatchError
from backtest.features import FeatureSchema, FeatureSpec, default_schema
from backtest.features.registry import KINDS

DESIGN_GROUPS = {"base": 6, "calendar": 7, "regime": 12, "reversal": 3, "indicators": 14,
                 "multiwindow": 9, "hourly": 7}


def test_default_schema_layout_matches_design():
    s = default_schema()
    assert s.groups == DESIGN_GROUPS
    assert s.n_market == 58 and s.n_account == 5 and s.window == 100
    assert s.obs_dim == 100 * 58 + 5
    assert s.warmup_bars == s.window + max(f.lookback for f in s.features)
    assert len(set(s.names)) == 58
    for spec in s.features:
        assert spec.doc, f"{spec.name} has no one-line doc"
        assert spec.kind in KINDS, spec.kind


def test_version_is_stable_and_content_defined():
    a, b = default_schema(), default_schema()
    assert a.version == b.version and len(a.version) == 64
    assert a == b
    # param order does not matter, docs are not part of the identity, values are
    spec = FeatureSpec("r", "base", "rsi", {"n": 14, "x": 1}, 14, "doc a")
    same = FeatureSpec("r", "base", "rsi", {"x": 1, "n": 14}, 14, "doc b")
    other = FeatureSpec("r", "base", "rsi", {"n": 15, "x": 1}, 14, "doc a")
    assert FeatureSchema((spec,)).version == FeatureSchema((same,)).version
    assert FeatureSchema((spec,)).version != FeatureSchema((other,)).version
    assert FeatureSchema((spec,), window=10).version != FeatureSchema((spec,), window=11).version
    assert default_schema(window=50).version != a.version


def test_json_round_trip():
    s = default_schema(window=64)
    text = s.to_json()
    back = FeatureSchema.from_json(text)
    assert back == s and back.version == s.version
    assert FeatureSchema.from_dict(json.loads(json.dumps(s.to_dict()))).version == s.version
    assert back.features[3].doc == s.features[3].doc


def test_from_dict_refuses_a_tampered_schema():
    d = default_schema().to_dict()
    d["features"][0]["params"]["n"] = 21
    with pytest.raises(SchemaMismatchError, match="does not match its content"):
        FeatureSchema.from_dict(d)


def test_mismatch_message_lists_every_difference():
    base = default_schema()
    feats = list(base.features)
    feats[5] = FeatureSpec(feats[5].name, feats[5].group, feats[5].kind, {"n": 21}, feats[5].lookback)
    del feats[10]
    changed = FeatureSchema(tuple(feats), window=50)
    base.check_compatible(default_schema())  # no error
    with pytest.raises(SchemaMismatchError) as err:
        base.check_compatible(changed)
    msg = str(err.value)
    assert "window: 100 vs 50" in msg
    assert "rsi_14" in msg and "params" in msg and "21" in msg
    assert base.features[10].name in msg and "only in this schema" in msg
    swapped = list(base.features)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(SchemaMismatchError, match="order differs"):
        base.check_compatible(FeatureSchema(tuple(swapped)))
    with pytest.raises(SchemaMismatchError, match="account features"):
        base.check_compatible(FeatureSchema(base.features, account_features=("cash_share",)))


def test_invalid_schemas_are_refused_with_the_parameter_named():
    spec = FeatureSpec("a", "g", "rsi", {"n": 2})
    with pytest.raises(ConfigError, match="window"):
        FeatureSchema((spec,), window=0)
    with pytest.raises(ConfigError, match="duplicate"):
        FeatureSchema((spec, spec))
    with pytest.raises(ConfigError, match="account_features"):
        FeatureSchema((spec,), account_features=("growth_since_start",))
    with pytest.raises(ConfigError, match="lookback"):
        FeatureSpec("a", "g", "rsi", {}, -1)
    with pytest.raises(ConfigError, match="params"):
        FeatureSpec("a", "g", "rsi", {"n": object()})


def test_unknown_kind_is_a_config_error():
    from backtest.features import compute_features
    from tests.test_features_known import make_bars

    with pytest.raises(ConfigError, match="unknown kind"):
        compute_features(make_bars([1.0, 2.0]), FeatureSchema((FeatureSpec("a", "g", "nope"),)))


def test_schema_pickles_and_params_are_read_only():
    import pickle

    s = default_schema()
    back = pickle.loads(pickle.dumps(s))
    assert back == s and back.version == s.version
    spec = s.features[s.index_of("regime_vol_calm")]
    with pytest.raises(TypeError, match="read-only"):
        spec.params["sd"] = 1.0
    assert isinstance(spec.params["means"], tuple)


def test_other_formulas_revision_is_refused():
    d = default_schema().to_dict()
    d["formulas_revision"] = d["formulas_revision"] + 1
    with pytest.raises(SchemaMismatchError, match="formulas revision"):
        FeatureSchema.from_dict(d)
