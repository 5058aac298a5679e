"""A small `@component` decorator in the shape of TFX's function components.

The decorated function is the executor. Its annotations are the spec:

- `InputArtifact[T]`: an artifact of type `T` that another component made;
  a default of None makes it optional (e.g. a baseline that may not exist
  yet: the executor then gets None).
- `OutputArtifact[T]`: a directory of type `T` that the runner creates and
  this component must fill (a missing or empty output is an error).
- `Parameter[T]`: a plain JSON-able value (`str`, `int`, `float`, `bool`);
  a default makes it optional.
- `BeamComponentParameter[beam.Pipeline]`: a `beam.Pipeline` built by the
  runner from the pipeline's `beam_pipeline_args`, so the same component runs
  on DirectRunner here and on Dataflow, Flink or Spark elsewhere.

Calling the decorated name builds a pipeline node:

>>> node = Pretrain(examples=importer.outputs["examples"], config_json="{}")
>>> node.outputs["model"]  # a Channel that a later component takes as input

`@component(input_fingerprint=fn)` names a function of the parameters that
fingerprints data the component reads from outside the pipeline (e.g. file
count, bytes and mtimes under `input_base`); the runner calls it before it
looks in its cache, as TFX's ExampleGen driver does, so changed data behind
an unchanged path runs the component again.

Reference:
 - [TFX Python function components](
   https://www.tensorflow.org/tfx/guide/custom_function_component)
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from components import types

T = TypeVar("T")


class InputArtifact(Generic[T]):
    """Annotation: an input artifact of type `T`."""


class OutputArtifact(Generic[T]):
    """Annotation: an output artifact of type `T`."""


class Parameter(Generic[T]):
    """Annotation: an execution parameter of primitive type `T`."""


class BeamComponentParameter(Generic[T]):
    """Annotation: a `beam.Pipeline` made from the `beam_pipeline_args`."""


_PRIMITIVES = (str, int, float, bool)


@dataclasses.dataclass(frozen=True)
class ComponentSpec:
    """What a component reads, writes and takes as parameters.

    Args:
        name: the component name (the executor function's name).
        inputs: input key -> artifact type.
        outputs: output key -> artifact type.
        parameters: parameter key -> primitive type.
        defaults: defaults of optional parameters and inputs.
        beam_parameter: name of the `BeamComponentParameter`, if any.
    """

    name: str
    inputs: dict[str, type[types.Artifact]]
    outputs: dict[str, type[types.Artifact]]
    parameters: dict[str, type]
    defaults: dict[str, Any]
    beam_parameter: str | None = None

    @classmethod
    def from_function(cls, fn: Callable) -> ComponentSpec:
        hints = typing.get_type_hints(fn)
        signature = inspect.signature(fn)
        inputs, outputs, parameters, defaults = {}, {}, {}, {}
        beam_parameter = None
        for key, argument in signature.parameters.items():
            if key not in hints:
                raise TypeError(
                    f"Argument {key!r} of component {fn.__name__} needs an "
                    "InputArtifact, OutputArtifact, Parameter or "
                    "BeamComponentParameter annotation."
                )
            origin = typing.get_origin(hints[key])
            (inner,) = typing.get_args(hints[key]) or (None,)
            if argument.default is not inspect.Parameter.empty:
                defaults[key] = argument.default
            if origin in (InputArtifact, OutputArtifact):
                if not (
                    isinstance(inner, type)
                    and issubclass(inner, types.Artifact)
                ):
                    raise TypeError(
                        f"{fn.__name__}.{key}: {origin.__name__}[...] needs an "
                        f"Artifact subclass. Received: {inner!r}"
                    )
                (inputs if origin is InputArtifact else outputs)[key] = inner
            elif origin is Parameter:
                if inner not in _PRIMITIVES:
                    raise TypeError(
                        f"{fn.__name__}.{key}: Parameter[...] must be one of "
                        f"{[t.__name__ for t in _PRIMITIVES]}. "
                        f"Received: {inner!r}"
                    )
                parameters[key] = inner
            elif origin is BeamComponentParameter:
                beam_parameter = key
            else:
                raise TypeError(
                    f"{fn.__name__}.{key}: unsupported annotation "
                    f"{hints[key]!r}."
                )
        if set(defaults) & set(outputs):
            raise TypeError(f"{fn.__name__}: outputs cannot have defaults.")
        return cls(
            fn.__name__, inputs, outputs, parameters, defaults, beam_parameter
        )


@dataclasses.dataclass(frozen=True)
class Channel:
    """A future artifact: output `key` of the node `producer`."""

    type: type[types.Artifact]
    producer: BaseComponent
    key: str


class BaseComponent:
    """A node of a pipeline: a spec, its executor and bound arguments."""

    SPEC: ComponentSpec
    EXECUTOR: Callable
    INPUT_FINGERPRINT: Callable[..., str] | None = None

    def __init__(self, **kwargs):
        spec = self.SPEC
        known = set(spec.inputs) | set(spec.parameters)
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(
                f"{spec.name} got unknown arguments {unknown}. Valid: "
                f"{sorted(known)}"
            )
        missing = sorted(known - set(kwargs) - set(spec.defaults))
        if missing:
            raise TypeError(f"{spec.name} is missing arguments {missing}.")
        self.inputs: dict[str, Channel] = {}
        for key, artifact_type in spec.inputs.items():
            channel = kwargs.get(key)
            if channel is None:
                continue
            if not (
                isinstance(channel, Channel)
                and issubclass(channel.type, artifact_type)
            ):
                raise TypeError(
                    f"{spec.name}.{key} expects a Channel of "
                    f"{artifact_type.TYPE_NAME}. Received: {channel!r}"
                )
            self.inputs[key] = channel
        self.exec_properties = {
            key: kwargs.get(key, spec.defaults.get(key))
            for key in spec.parameters
        }
        for key, value in self.exec_properties.items():
            expected = spec.parameters[key]
            if expected is float and type(value) is int:
                value = self.exec_properties[key] = float(value)
            if value is not None and not isinstance(value, expected):
                raise TypeError(
                    f"{spec.name}.{key} expects {expected.__name__}. "
                    f"Received: {key}={value!r}"
                )
        self.id = spec.name
        self.outputs = {
            key: Channel(artifact_type, self, key)
            for key, artifact_type in spec.outputs.items()
        }

    def with_id(self, component_id: str) -> BaseComponent:
        """Renames the node, e.g. to run one component twice in a pipeline."""
        self.id = component_id
        return self

    def input_fingerprint(self) -> str | None:
        """Fingerprint of the data outside the pipeline this node reads."""
        fingerprint = type(self).INPUT_FINGERPRINT
        if fingerprint is None:
            return None
        # Only the parameters it names: it may need just `input_base`.
        names = inspect.signature(fingerprint).parameters
        return fingerprint(
            **{k: v for k, v in self.exec_properties.items() if k in names}
        )

    def execute(
        self,
        inputs: dict[str, types.Artifact],
        outputs: dict[str, types.Artifact],
        beam_pipeline_args: list[str] | None = None,
    ) -> None:
        """Runs the executor on resolved artifacts."""
        kwargs = {**inputs, **outputs, **self.exec_properties}
        name = self.SPEC.beam_parameter
        if name:
            kwargs[name] = beam_pipeline(beam_pipeline_args)
        type(self).EXECUTOR(**kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"


def beam_pipeline(beam_pipeline_args: list[str] | None = None):
    """A `beam.Pipeline` with `PipelineOptions(beam_pipeline_args)`."""
    # Imported here: only Beam components need Beam at run time.
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    return beam.Pipeline(
        options=PipelineOptions(list(beam_pipeline_args or []))
    )


def _default_beam_pipeline(fn: Callable, name: str) -> Callable:
    """`fn` that builds a default (DirectRunner) pipeline for `name` when
    called on its own without one, instead of failing on None."""

    @functools.wraps(fn)
    def executor(*args, **kwargs):
        bound = inspect.signature(fn).bind(*args, **kwargs)
        if bound.arguments.get(name) is None:
            bound.arguments[name] = beam_pipeline()
        return fn(*bound.args, **bound.kwargs)

    return executor


def component(
    fn: Callable | None = None,
    *,
    input_fingerprint: Callable[..., str] | None = None,
):
    """Turns an annotated executor function into a component class.

    Args:
        fn: the executor (when used as a bare `@component`).
        input_fingerprint: optional function of the parameters (keyword
            arguments) returning a string that changes when the external
            data the component reads changes.
    """
    if fn is None:
        return functools.partial(component, input_fingerprint=input_fingerprint)
    spec = ComponentSpec.from_function(fn)
    executor = fn
    if spec.beam_parameter:
        executor = _default_beam_pipeline(fn, spec.beam_parameter)
    return type(
        fn.__name__,
        (BaseComponent,),
        {
            "SPEC": spec,
            "EXECUTOR": staticmethod(executor),
            "INPUT_FINGERPRINT": None
            if input_fingerprint is None
            else staticmethod(input_fingerprint),
            "__doc__": fn.__doc__,
            "__module__": fn.__module__,
        },
    )
