package nodes

import (
	"fmt"

	"github.com/aymerick/raymond"
)

// handlebars is a parsed Handlebars template, rendered without HTML
// escaping (Thoth compiles its templates with noEscape).
type handlebars struct{ tpl *raymond.Template }

func parseHandlebars(src string) (*handlebars, error) {
	tpl, err := raymond.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return &handlebars{tpl: tpl}, nil
}

func (h *handlebars) render(vars map[string]any) (string, error) {
	out, err := h.tpl.Exec(unescaped(vars))
	if err != nil {
		return "", fmt.Errorf("render template: %w", err)
	}
	return out, nil
}

// unescaped marks every string as safe so that raymond does not
// HTML-escape it.
func unescaped(v any) any {
	switch x := v.(type) {
	case string:
		return raymond.SafeString(x)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = unescaped(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = unescaped(e)
		}
		return s
	}
	return v
}
