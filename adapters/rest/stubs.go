package rest

import "net/http"

func (a *Adapter) handleOpenAPI(w http.ResponseWriter, r *http.Request) {}
func (a *Adapter) consumerRoutes(mux *http.ServeMux)                    {}
