"""The registered pyfunc as a Spark UDF (local PySpark session) returns score()'s numbers."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

import targeting as tg

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="PySpark needs Java")


@pytest.fixture()
def spark(monkeypatch):
    # Spark's Python workers must start this environment's interpreter (the system one has
    # no pandas); set before the session starts.
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    monkeypatch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("targeting-test")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .getOrCreate())
    yield session
    session.stop()


def test_registered_pyfunc_as_spark_udf_equals_score(small_world, small_model, mlflow_store,
                                                     spark):
    import mlflow
    from pyspark.sql import functions as F

    from targeting.tracking import log_propensity

    log_propensity(small_model, tg.evaluate(small_model, small_world), small_world.tables)
    uri = "models:/propensity@champion"
    expected = tg.score(small_world.tables, uri, small_world.as_of)
    features = small_model.features(small_world.tables, small_world.as_of).reset_index()
    frame = spark.createDataFrame(features)
    udf = mlflow.pyfunc.spark_udf(
        spark, uri, env_manager="local",
        result_type="user_id long, score double, decile long, note string")
    out = frame.withColumn("out", udf(*[F.col(c) for c in features.columns]))
    got = out.select("out.*").toPandas().set_index("user_id").loc[expected.user_id]
    assert len(got) == len(expected)
    np.testing.assert_allclose(got.score.to_numpy(), expected.score.to_numpy(), rtol=0,
                               atol=1e-12)
    assert (got.decile.to_numpy() == expected.decile.to_numpy()).all()
    assert (got.note.fillna("").to_numpy() == expected.note.to_numpy()).all()
