"""`LatestBlessedModel`: a resolver node, as TFX's `Resolver` with
`LatestBlessedModelStrategy`.

It runs no executor: the runner asks it to `resolve` its output from the
metadata store. Its output `blessing` is the newest live ModelBlessing with
`properties["blessed"] == True` that a run of the same pipeline produced,
or no artifact at all when there is none (a first run); a component takes it
as an optional input, e.g. `baseline: InputArtifact[ModelBlessing] = None`.

>>> latest = LatestBlessedModel()
>>> evaluator = Evaluator(..., baseline=latest.outputs["blessing"])
"""

from __future__ import annotations

from components import BaseComponent, ComponentSpec, types
from components.types import ModelBlessing


class Resolver(BaseComponent):
    """A node whose outputs the runner looks up instead of executing."""

    def resolve(
        self, store, pipeline_name: str, inputs=None
    ) -> dict[str, types.Artifact | None]:
        """Output key -> the resolved artifact, or None when there is none.

        Args:
            store: the run's `pipelines.metadata.MetadataStore`.
            pipeline_name: the name of the running pipeline.
            inputs: the node's input artifacts, by key.
        """
        raise NotImplementedError

    def execute(self, inputs, outputs, beam_pipeline_args=None) -> None:
        raise TypeError(
            f"{self.id} is a resolver: the runner calls `resolve`, not "
            "`execute`."
        )


class LatestBlessedModel(Resolver):
    """Resolves the newest blessed ModelBlessing of this pipeline.

    Given the candidate `model`, a blessing of that same model is passed
    over: a model is judged against the one blessed before it, not against
    itself, so a rerun with nothing changed resolves the same baseline and
    its Evaluator stays cached.
    """

    SPEC = ComponentSpec(
        name="LatestBlessedModel",
        inputs={"model": types.Model},
        outputs={"blessing": ModelBlessing},
        parameters={},
        defaults={"model": None},
    )

    def resolve(self, store, pipeline_name, inputs=None):
        candidate = (inputs or {}).get("model")
        for blessing in store.artifacts(
            ModelBlessing.TYPE_NAME, "live", pipeline_name
        ):
            if blessing.properties.get("blessed") is not True:
                continue
            if candidate and blessing.properties.get("model_uri") == (
                candidate.uri
            ):
                continue
            return {"blessing": blessing}
        return {"blessing": None}
