package nodes

import (
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

// sampling is the model and sampling configuration that the completion node
// types share, read from the names Grimoire, Thoth and Magick use.
type sampling struct {
	model     string
	maxTokens int
	temp      *float32
	topP      *float32
	freq      *float32
	presence  *float32
	seed      *int
	stop      []string
}

var samplingFields = []graph.ConfigField{
	{Name: "model", Type: "string", Doc: "model name or alias (default: the server's default model)"},
	{Name: "maxTokens", Type: "number", Doc: "most tokens to generate (also max_tokens)"},
	{Name: "temperature", Type: "number", Doc: "sampling temperature (also temp)"},
	{Name: "topP", Type: "number", Doc: "nucleus sampling (also top_p)"},
	{Name: "frequencyPenalty", Type: "number", Doc: "frequency penalty (also frequency_penalty)"},
	{Name: "presencePenalty", Type: "number", Doc: "presence penalty (also presence_penalty)"},
	{Name: "seed", Type: "number", Doc: "sampling seed, for servers that honour it"},
	{Name: "stop", Type: "string", Doc: "stop sequences: one string such as \"\\n\", a comma-separated list, or an array"},
}

func readSampling(n *graph.Node, defaultMaxTokens int) (sampling, error) {
	s := sampling{model: configString(n, "model", "modelName"), stop: parseStop(n.Config["stop"]), maxTokens: defaultMaxTokens}
	f32 := func(dst **float32, keys ...string) error {
		v, ok, err := configNumber(n, keys...)
		if err != nil || !ok {
			return err
		}
		f := float32(v)
		*dst = &f
		return nil
	}
	if v, ok, err := configNumber(n, "maxTokens", "max_tokens", "maxCompletionTokens"); err != nil {
		return s, err
	} else if ok {
		s.maxTokens = int(v)
	}
	for _, f := range []struct {
		dst  **float32
		keys []string
	}{
		{&s.temp, []string{"temperature", "temp"}},
		{&s.topP, []string{"topP", "top_p"}},
		{&s.freq, []string{"frequencyPenalty", "frequency_penalty"}},
		{&s.presence, []string{"presencePenalty", "presence_penalty"}},
	} {
		if err := f32(f.dst, f.keys...); err != nil {
			return s, err
		}
	}
	if v, ok, err := configNumber(n, "seed"); err != nil {
		return s, err
	} else if ok {
		i := int(v)
		s.seed = &i
	}
	return s, nil
}

// request fills the sampling fields of a request; model "" becomes the
// services' default model.
func (s sampling) request(svcs *Services) services.CompletionRequest {
	model := s.model
	if model == "" {
		model = svcs.DefaultModel
	}
	return services.CompletionRequest{
		Model: model, MaxTokens: s.maxTokens, Temperature: s.temp, TopP: s.topP,
		FrequencyPenalty: s.freq, PresencePenalty: s.presence, Seed: s.seed, Stop: s.stop,
	}
}

// reportUsage records one call's usage on the activation.
func reportUsage(a *graph.Activation, model string, u services.Usage) {
	if u.Model == "" {
		u.Model = model
	}
	a.ReportUsage(graph.Usage{Model: u.Model, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens, Calls: 1})
}
