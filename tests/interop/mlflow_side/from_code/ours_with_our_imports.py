"""A models-from-code file written against pyfunc_ops' own set_model."""

from pyfunc_ops.pyfunc import PythonModel, set_model


class Scale(PythonModel):
    def load_context(self, context):
        self.factor = context.model_config.get("factor", 1)

    def predict(self, model_input):
        return (model_input["x"] * self.factor).tolist()


set_model(Scale())
