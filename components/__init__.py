"""TFX-style components: typed artifacts in and out, thin adapters over ssl_tf.

Each component is a function decorated with `@component` (see
`components.component`); Beam work runs through the `beam_pipeline` the
runner builds from the pipeline's `beam_pipeline_args`.
"""

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
from components.embed import Embed
from components.evaluate import Evaluate
from components.example_gen import ImageExampleGen
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
    "Channel",
    "ComponentSpec",
    "Embed",
    "Embeddings",
    "Evaluate",
    "Examples",
    "ImageExampleGen",
    "InputArtifact",
    "Model",
    "ModelEvaluation",
    "ModelRun",
    "OutputArtifact",
    "Parameter",
    "Pretrain",
    "component",
]
