package nodes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Document to Content", newDocumentToContent) }

// Document to Content (Magick document/DocumentToContent.ts) joins
// documents into one text for a prompt: each document's content followed
// by a newline. Magick's documents carry "content"; Search Knowledge's hits
// carry "text", read when there is no content. A database result
// ({rows: […]}) gives each row's content between newlines, as Magick's rows
// branch wrote it; a single document gives its content and a newline.
func newDocumentToContent(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Document to Content",
		Family:  "knowledge",
		Doc:     "Joins documents (Get Documents' or Search Knowledge's output) into one text, a line per document.",
		Inputs:  []graph.Port{triggerIn, dataIn("documents", "array", "the documents: [{content}] or [{text}], a {rows: […]} result, or one document")},
		Outputs: []graph.Port{triggerOut, dataOut("content", "string", "each document's content followed by a newline")},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("documents")
				if !ok || v == nil {
					// Magick read .content of undefined here and threw.
					return graph.Result{}, errors.New(`input "documents" is missing: connect a list of documents (Get Documents' output)`)
				}
				var b strings.Builder
				switch x := v.(type) {
				case []any:
					for i, d := range x {
						c, err := documentContent(d)
						if err != nil {
							return graph.Result{}, fmt.Errorf(`input "documents" element %d: %w`, i, err)
						}
						b.WriteString(c + "\n")
					}
				case map[string]any:
					if rows, ok := x["rows"].([]any); ok {
						for i, d := range rows {
							c, err := documentContent(d)
							if err != nil {
								return graph.Result{}, fmt.Errorf(`input "documents" row %d: %w`, i, err)
							}
							b.WriteString("\n" + c + "\n")
						}
						break
					}
					c, _ := documentContent(x)
					b.WriteString(c + "\n")
				default:
					c, err := documentContent(v)
					if err != nil {
						return graph.Result{}, fmt.Errorf(`input "documents": %w`, err)
					}
					b.WriteString(c + "\n")
				}
				return graph.Result{Outputs: graph.Outputs{"content": b.String()}}, nil
			}), nil
		},
	}
}

// documentContent is a document's content (Magick), else its text (Search
// Knowledge); a bare string is its own content.
func documentContent(d any) (string, error) {
	switch x := d.(type) {
	case map[string]any:
		if c, ok := x["content"]; ok && c != nil {
			return text(c), nil
		}
		return str(x, "text"), nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("want a document {content} or {text}, got %T", d)
}
