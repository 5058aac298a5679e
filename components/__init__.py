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
from components.evaluator import Evaluator
from components.example_gen import ImageExampleGen
from components.pretrain import Pretrain
from components.pusher import Pusher
from components.types import (
    Artifact,
    Embeddings,
    Examples,
    Model,
    ModelBlessing,
    ModelEvaluation,
    ModelRun,
    PushedModel,
)

__all__ = [
    "Artifact",
    "BaseComponent",
    "BeamComponentParameter",
    "BulkEmbed",
    "Channel",
    "ComponentSpec",
    "Embeddings",
    "Evaluator",
    "Examples",
    "ImageExampleGen",
    "InputArtifact",
    "Model",
    "ModelBlessing",
    "ModelEvaluation",
    "ModelRun",
    "OutputArtifact",
    "Parameter",
    "Pretrain",
    "PushedModel",
    "Pusher",
    "component",
]
