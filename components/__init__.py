"""TFX-style components: typed artifacts in and out, thin adapters over ssl_tf.

Each component is a function decorated with `@component` (see
`components.component`); Beam work runs through the `beam_pipeline` the
runner builds from the pipeline's `beam_pipeline_args`.
"""

from components.bulk_embed import BulkEmbed
from components.component import (
    BaseComponent,
    BeamComponentParameter,
    Channel,
    ComponentSpec,
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.evaluate import Evaluate
from components.import_examples import ImportExamples
from components.pretrain import Pretrain
from components.types import (
    Artifact,
    Embeddings,
    Examples,
    Model,
    ModelEvaluation,
    ModelRun,
)

__all__ = [
    "Artifact",
    "BaseComponent",
    "BeamComponentParameter",
    "BulkEmbed",
    "Channel",
    "ComponentSpec",
    "Embeddings",
    "Evaluate",
    "Examples",
    "ImportExamples",
    "InputArtifact",
    "Model",
    "ModelEvaluation",
    "ModelRun",
    "OutputArtifact",
    "Parameter",
    "Pretrain",
    "component",
]
